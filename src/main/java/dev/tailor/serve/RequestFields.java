package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Typed reading of one JSON object of a request, with OpenAI's rules and wording: an explicit
 * null is the same as leaving the field out, a value of the wrong JSON type is an
 * {@code invalid_type} error, a number out of range an {@code integer_below_min_value} (etc.)
 * error, and every error names the field as {@code param}.
 */
final class RequestFields {
    private final JsonNode node;
    private final String prefix;

    /** @param prefix prepended to field names in errors, e.g. "messages[2]." or "" at the top level */
    RequestFields(JsonNode node, String prefix) {
        this.node = node;
        this.prefix = prefix;
    }

    /**
     * Refuses every field that is neither {@code supported} nor in {@code neutral} (OpenAI's
     * "Unrecognized request argument supplied"), and every neutral field whose value is not the one
     * that means "off" (an OpenAI feature this server does not implement, asked for).
     */
    void allowOnly(Set<String> supported, Map<String, Predicate<JsonNode>> neutral) {
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            if (supported.contains(name)) {
                continue;
            }
            Predicate<JsonNode> off = neutral.get(name);
            if (off == null) {
                throw ApiError.invalid("Unrecognized request argument supplied: " + prefix + name, prefix + name);
            }
            if (!field.getValue().isNull() && !off.test(field.getValue())) {
                throw ApiError.invalid("'" + prefix + name + "' is not supported by this server; leave it out (got "
                        + abbreviated(field.getValue()) + ")", prefix + name, "unsupported_parameter");
            }
        }
    }

    /** The field's value; null when it is absent or JSON null. */
    JsonNode get(String name) {
        JsonNode value = node.get(name);
        return value == null || value.isNull() ? null : value;
    }

    String string(String name, boolean required) {
        JsonNode value = get(name);
        if (value == null) {
            if (required) {
                throw ApiError.invalid("Missing required parameter: '" + prefix + name + "'.", prefix + name, "missing_required_parameter");
            }
            return null;
        }
        if (!value.isTextual()) {
            throw typeError(name, "a string", value);
        }
        return value.asText();
    }

    Boolean bool(String name) {
        JsonNode value = get(name);
        if (value == null) {
            return null;
        }
        if (!value.isBoolean()) {
            throw typeError(name, "a boolean", value);
        }
        return value.booleanValue();
    }

    /** A number in [min, max] (or (min, max] when {@code minExclusive}). */
    Double decimal(String name, double min, boolean minExclusive, double max) {
        JsonNode value = get(name);
        if (value == null) {
            return null;
        }
        if (!value.isNumber()) {
            throw typeError(name, "a decimal", value);
        }
        double x = value.doubleValue();
        if (x < min || (minExclusive && x == min)) {
            throw ApiError.invalid("Invalid '" + prefix + name + "': decimal below minimum value. Expected a value "
                    + (minExclusive ? "> " : ">= ") + plain(min) + ", but got " + value + " instead.", prefix + name,
                    "decimal_below_min_value");
        }
        if (x > max) {
            throw ApiError.invalid("Invalid '" + prefix + name + "': decimal above maximum value. Expected a value <= "
                    + plain(max) + ", but got " + value + " instead.", prefix + name, "decimal_above_max_value");
        }
        return x;
    }

    /** A whole number in [min, max]; 3.0 counts as 3, 3.5 is refused. */
    Long integer(String name, long min, long max) {
        JsonNode value = get(name);
        return value == null ? null : integerValue(value, prefix + name, min, max);
    }

    /** {@link #integer} of any JSON value, with {@code field} as its name in errors. */
    static long integerValue(JsonNode value, String field, long min, long max) {
        if (!value.isNumber() || !(value.isIntegralNumber() || value.canConvertToExactIntegral())) {
            throw wrongType(field, "an integer", value);
        }
        BigInteger v = value.bigIntegerValue();
        if (v.compareTo(BigInteger.valueOf(min)) < 0) {
            throw ApiError.invalid("Invalid '" + field + "': integer below minimum value. Expected a value >= " + min
                    + ", but got " + value + " instead.", field, "integer_below_min_value");
        }
        if (v.compareTo(BigInteger.valueOf(max)) > 0) {
            throw ApiError.invalid("Invalid '" + field + "': integer above maximum value. Expected a value <= " + max
                    + ", but got " + value + " instead.", field, "integer_above_max_value");
        }
        return v.longValue();
    }

    /**
     * {@code stop}: one string or a list of up to {@code maxCount} strings, none empty; an empty
     * list when absent.
     */
    List<String> stop(String name, int maxCount) {
        JsonNode value = get(name);
        List<String> out = new ArrayList<>();
        if (value == null) {
            return out;
        }
        if (value.isTextual()) {
            out.add(value.asText());
        } else if (value.isArray()) {
            if (value.size() > maxCount) {
                throw ApiError.invalid("Invalid '" + prefix + name + "': at most " + maxCount + " stop sequences, got "
                        + value.size() + ".", prefix + name, "array_above_max_length");
            }
            for (int i = 0; i < value.size(); i++) {
                if (!value.get(i).isTextual()) {
                    throw typeError(name + "[" + i + "]", "a string", value.get(i));
                }
                out.add(value.get(i).asText());
            }
        } else {
            throw typeError(name, "a string or an array of strings", value);
        }
        if (out.contains("")) {
            throw ApiError.invalid("Invalid '" + prefix + name + "': stop sequences must not be empty.", prefix + name, "invalid_value");
        }
        return out;
    }

    ApiError typeError(String name, String expected, JsonNode value) {
        return wrongType(prefix + name, expected, value);
    }

    /** OpenAI's invalid_type error for {@code field}. */
    static ApiError wrongType(String field, String expected, JsonNode value) {
        return ApiError.invalid("Invalid type for '" + field + "': expected " + expected + ", but got " + describe(value)
                + " instead.", field, "invalid_type");
    }

    /** "a string", "an integer", ... as OpenAI words the type it got. */
    static String describe(JsonNode value) {
        JsonNodeType type = value.getNodeType();
        return switch (type) {
            case STRING -> "a string";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            case NUMBER -> value.isIntegralNumber() ? "an integer" : "a decimal";
            default -> "a " + type.name().toLowerCase(Locale.ROOT);
        };
    }

    private static String abbreviated(JsonNode value) {
        String text = value.toString();
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }

    private static String plain(double x) {
        return x == Math.rint(x) ? Long.toString((long) x) : Double.toString(x);
    }
}
