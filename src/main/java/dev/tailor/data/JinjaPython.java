package dev.tailor.data;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Python's view of template values (None, truth, str, repr), which Jinja2 has and Jinjava lacks. */
final class JinjaPython {
    private static final Pattern PERCENT_SPEC = Pattern.compile("%([-+ #0]*)(\\d*)(?:\\.(\\d+))?([sradiuxXocfFeE%])");

    private JinjaPython() {}

    /** Copies a Jackson-parsed JSON value, turning JSON null into None (Java null would mean undefined). */
    static Object fromJson(Object value) {
        if (value == null) {
            return JinjaNone.NONE;
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> copy = new LinkedHashMap<>();
            map.forEach((k, v) -> copy.put(String.valueOf(k), fromJson(v)));
            return copy;
        }
        if (value instanceof Collection<?> list) {
            List<Object> copy = new ArrayList<>(list.size());
            list.forEach(v -> copy.add(fromJson(v)));
            return copy;
        }
        return value;
    }

    static boolean isNone(Object value) {
        return value == null || value == JinjaNone.NONE;
    }

    /** Python's bool(value); Jinjava would also call the string "false" false. */
    static boolean truth(Object value) {
        if (isNone(value)) {
            return false;
        }
        if (value instanceof Boolean b) {
            return b;
        }
        if (value instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (value instanceof CharSequence s) {
            return s.length() > 0;
        }
        if (value instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        Iterator<?> items = iterate(value);
        return items == null || items.hasNext();
    }

    /** Python's type name of a value, for error messages. */
    static String typeName(Object value) {
        if (value == null) {
            return "Undefined";
        }
        if (value == JinjaNone.NONE) {
            return "NoneType";
        }
        if (value instanceof Boolean) {
            return "bool";
        }
        if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            return "float";
        }
        if (value instanceof Number) {
            return "int";
        }
        if (value instanceof CharSequence) {
            return "str";
        }
        return value instanceof Map ? "dict" : iterate(value) != null ? "list" : value.getClass().getSimpleName();
    }

    /** A bool as the int Python takes it for in arithmetic. */
    static Number number(Object value) {
        return value instanceof Boolean b ? (b ? 1L : 0L) : (Number) value;
    }

    /** Python's ==: 1 == 1.0 and True == 1, where Java's equals says no. */
    static boolean equal(Object a, Object b) {
        if ((a instanceof Number || a instanceof Boolean) && (b instanceof Number || b instanceof Boolean)) {
            return number(a).doubleValue() == number(b).doubleValue();
        }
        return java.util.Objects.equals(a, b);
    }

    /** Python's str(value), where an undefined value (Java null) renders empty as in Jinja2. */
    static String str(Object value) {
        if (value == null) {
            return "";
        }
        if (value instanceof CharSequence || value instanceof Character) {
            return value.toString();
        }
        return repr(value);
    }

    static String repr(Object value) {
        if (isNone(value)) {
            return "None";
        }
        if (value instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (value instanceof CharSequence || value instanceof Character) {
            return reprString(value.toString());
        }
        if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            return floatRepr(((Number) value).doubleValue());
        }
        if (value instanceof Map<?, ?> map) {
            StringJoiner out = new StringJoiner(", ", "{", "}");
            map.forEach((k, v) -> out.add(repr(k) + ": " + repr(v)));
            return out.toString();
        }
        if (value instanceof Map.Entry<?, ?> entry) {
            return "(" + repr(entry.getKey()) + ", " + repr(entry.getValue()) + ")";
        }
        Iterator<?> items = iterate(value);
        if (items != null) {
            StringJoiner out = new StringJoiner(", ", "[", "]");
            items.forEachRemaining(v -> out.add(repr(v)));
            return out.toString();
        }
        return value.toString();
    }

    /** Items of a list-like value (collection or array), or null when it is not one. */
    static Iterator<?> iterate(Object value) {
        if (value instanceof Iterable<?> iterable) {
            return iterable.iterator();
        }
        if (value instanceof Object[] array) {
            return List.of(array).iterator();
        }
        return null;
    }

    /** Python's repr of a float: shortest round-trip digits, scientific below 1e-4 and from 1e16 on. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal decimal = shortestRoundTrip(Math.abs(d)).stripTrailingZeros();
        String digits = decimal.unscaledValue().toString();
        int exponent = digits.length() - 1 - decimal.scale(); // d = digits[0].digits[1:] * 10^exponent
        String sign = d < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
        }
        if (exponent < 0) {
            return sign + "0." + "0".repeat(-exponent - 1) + digits;
        }
        if (digits.length() <= exponent + 1) {
            return sign + digits + "0".repeat(exponent + 1 - digits.length()) + ".0";
        }
        return sign + digits.substring(0, exponent + 1) + "." + digits.substring(exponent + 1);
    }

    /** The decimal with the fewest digits that reads back as d (Java 17's Double.toString may use more). */
    private static BigDecimal shortestRoundTrip(double d) {
        BigDecimal exact = new BigDecimal(d);
        for (int digits = 1; ; digits++) {
            BigDecimal rounded = exact.round(new MathContext(digits, RoundingMode.HALF_EVEN));
            if (rounded.doubleValue() == d) {
                return rounded;
            }
        }
    }

    /** Python's "format" % args for the conversions templates use: s r d i f e x o c and %%. */
    static String percentFormat(String format, Object args) {
        Iterator<?> positional = args instanceof List<?> list ? list.iterator() : List.of(args).iterator();
        Matcher spec = PERCENT_SPEC.matcher(format);
        StringBuilder out = new StringBuilder();
        while (spec.find()) {
            String conversion = spec.group(4);
            String flagsWidth = spec.group(1) + spec.group(2);
            String precision = spec.group(3) == null ? "" : "." + spec.group(3);
            String text = switch (conversion) {
                case "%" -> "%";
                case "s" -> String.format("%" + flagsWidth + precision + "s", str(positional.next()));
                case "r", "a" -> String.format("%" + flagsWidth + precision + "s", repr(positional.next()));
                case "d", "i", "u" -> String.format("%" + flagsWidth + "d", ((Number) positional.next()).longValue());
                case "x", "X", "o" -> String.format("%" + flagsWidth + conversion, ((Number) positional.next()).longValue());
                case "c" -> new String(Character.toChars(((Number) positional.next()).intValue()));
                default -> String.format("%" + flagsWidth + (precision.isEmpty() ? ".6" : precision) + conversion,
                        ((Number) positional.next()).doubleValue());
            };
            spec.appendReplacement(out, Matcher.quoteReplacement(text));
        }
        spec.appendTail(out);
        return out.toString();
    }

    /** Python's repr of a str: single quotes unless only double quotes avoid escaping. */
    static String reprString(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder(s.length() + 2).append(quote);
        s.codePoints().forEach(cp -> {
            switch (cp) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (cp == quote) {
                        out.append('\\').append(quote);
                    } else if (isPrintable(cp)) {
                        out.appendCodePoint(cp);
                    } else if (cp < 0x100) {
                        out.append(String.format("\\x%02x", cp));
                    } else if (cp < 0x10000) {
                        out.append(String.format("\\u%04x", cp));
                    } else {
                        out.append(String.format("\\U%08x", cp));
                    }
                }
            }
        });
        return out.append(quote).toString();
    }

    private static boolean isPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }
}
