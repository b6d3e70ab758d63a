package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A validated body of {@code POST /v1/chat/completions}.
 *
 * <p>{@code messages} is a normalised copy of the request's: each message has a known role
 * (a {@code developer} message becomes {@code system}, since open models' chat templates know
 * only that) and its content as one string (text parts joined with newlines), or null for an
 * assistant message that only calls tools.
 *
 * @param topLogprobs null unless {@code logprobs} is true; then 0 to 20
 */
public record ChatCompletionRequest(String model, ArrayNode messages, GenerationOptions options, boolean logprobs,
                                    Integer topLogprobs) {
    public static final int MAX_TOP_LOGPROBS = 20;

    private static final Set<String> FIELDS = Set.of("model", "messages", "temperature", "top_p", "top_k", "min_p",
            "repetition_penalty", "max_tokens", "max_completion_tokens", "stop", "seed", "n", "logprobs",
            "top_logprobs", "stream", "stream_options", "user");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    /** What OpenAI takes in a message, plus the annotations its responses carry (clients send answers back as they got them). */
    private static final Set<String> MESSAGE_KEYS = Set.of("role", "content", "name", "tool_calls", "tool_call_id",
            "function_call", "refusal", "annotations");

    /**
     * Validates {@code body} (a parsed JSON object) against OpenAI's rules and the caller's
     * {@code limits}; an {@link ApiError} (400) names the first offending field.
     */
    public static ChatCompletionRequest parse(JsonNode body, RequestLimits limits) {
        RequestFields f = new RequestFields(body, "");
        f.allowOnly(FIELDS, UnsupportedParameters.CHAT);
        String model = model(f);
        ArrayNode messages = messages(f.get("messages"));
        Integer maxTokens = maxTokens(f, limits);
        GenerationOptions options = GenerationOptions.read(f, maxTokens);
        boolean logprobs = Boolean.TRUE.equals(f.bool("logprobs"));
        Long top = f.integer("top_logprobs", 0, MAX_TOP_LOGPROBS);
        if (top != null && !logprobs) {
            throw ApiError.invalid("Invalid value for 'top_logprobs': top_logprobs requires logprobs to be true.", "top_logprobs");
        }
        return new ChatCompletionRequest(model, messages, options, logprobs,
                logprobs ? Integer.valueOf(top == null ? 0 : top.intValue()) : null);
    }

    static String model(RequestFields f) {
        String model = f.string("model", true);
        if (model.isBlank()) {
            throw ApiError.invalid("Invalid 'model': give the id of a model from GET /v1/models.", "model", "invalid_value");
        }
        return model;
    }

    /** max_completion_tokens, or its older name max_tokens (the same value when both are given). */
    private static Integer maxTokens(RequestFields f, RequestLimits limits) {
        Long completion = f.integer("max_completion_tokens", 1, Integer.MAX_VALUE);
        Long legacy = f.integer("max_tokens", 1, Integer.MAX_VALUE);
        if (completion != null && legacy != null && !completion.equals(legacy)) {
            throw ApiError.invalid("Give max_completion_tokens or max_tokens, not both with different values ("
                    + completion + " and " + legacy + ").", "max_tokens");
        }
        Long value = completion != null ? completion : legacy;
        checkCap(value, completion != null ? "max_completion_tokens" : "max_tokens", limits);
        return value == null ? null : value.intValue();
    }

    /** A per-key cap refuses larger budgets outright, so a client learns its limit instead of getting cut text. */
    static void checkCap(Long value, String field, RequestLimits limits) {
        if (value != null && limits.maxTokens() != null && value > limits.maxTokens()) {
            throw ApiError.invalid("Invalid '" + field + "': " + value + " is above this API key's limit of "
                    + limits.maxTokens() + " tokens (limits.max_tokens in serve.yaml).", field, "integer_above_max_value");
        }
    }

    private static ArrayNode messages(JsonNode node) {
        if (node == null) {
            throw ApiError.invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (!node.isArray()) {
            throw RequestFields.wrongType("messages", "an array", node);
        }
        if (node.isEmpty()) {
            throw ApiError.invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                    "messages", "empty_array");
        }
        ArrayNode out = Json.MAPPER.createArrayNode();
        for (int i = 0; i < node.size(); i++) {
            out.add(message(node.get(i), "messages[" + i + "]"));
        }
        return out;
    }

    private static ObjectNode message(JsonNode node, String field) {
        if (!node.isObject()) {
            throw RequestFields.wrongType(field, "an object", node);
        }
        RequestFields m = new RequestFields(node, field + ".");
        for (var it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!MESSAGE_KEYS.contains(key)) {
                throw ApiError.invalid("Invalid '" + field + "': unrecognized key '" + key + "'; a message has "
                        + String.join(", ", MESSAGE_KEYS.stream().sorted().toList()) + ".", field + "." + key);
            }
        }
        String role = m.string("role", true);
        if (!ROLES.contains(role)) {
            throw ApiError.invalid("Invalid value for '" + field + ".role': '" + role + "'; expected one of assistant, developer,"
                    + " system, tool, user.", field + ".role", "invalid_value");
        }
        ObjectNode out = ((ObjectNode) node).deepCopy();
        out.put("role", role.equals("developer") ? "system" : role);
        JsonNode toolCalls = m.get("tool_calls");
        if (toolCalls != null && !toolCalls.isArray()) {
            throw m.typeError("tool_calls", "an array", toolCalls);
        }
        if (toolCalls != null && !role.equals("assistant")) {
            throw ApiError.invalid("Invalid '" + field + ".tool_calls': only assistant messages carry tool calls.", field + ".tool_calls");
        }
        m.string("name", false);
        if (role.equals("tool")) {
            m.string("tool_call_id", true);
        }
        boolean callsTools = toolCalls != null || m.get("function_call") != null;
        String content = content(m.get("content"), field + ".content", role.equals("assistant") && callsTools);
        if (content == null) {
            out.putNull("content");
        } else {
            out.put("content", content);
        }
        return out;
    }

    /** The content as one string: a string, or text parts joined with newlines. */
    private static String content(JsonNode node, String field, boolean mayBeNull) {
        if (node == null) {
            if (mayBeNull) {
                return null;
            }
            throw ApiError.invalid("Missing required parameter: '" + field + "'.", field, "missing_required_parameter");
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (!node.isArray()) {
            throw RequestFields.wrongType(field, "a string or an array of content parts", node);
        }
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode part = node.get(i);
            String partField = field + "[" + i + "]";
            if (!part.isObject()) {
                throw RequestFields.wrongType(partField, "an object", part);
            }
            String type = new RequestFields(part, partField + ".").string("type", true);
            if (!type.equals("text")) {
                throw ApiError.invalid("Invalid '" + partField + ".type': '" + type + "' content is not supported; this server's"
                        + " models read text only.", partField + ".type", "unsupported_content");
            }
            texts.add(new RequestFields(part, partField + ".").string("text", true));
        }
        return String.join("\n", texts);
    }
}
