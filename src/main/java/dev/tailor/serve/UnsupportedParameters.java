package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * OpenAI request fields this server does not implement, each with the values that ask for nothing
 * (a penalty of 0, {@code store: false}, no tools): clients and frameworks often send those, and
 * they are accepted; any other value is refused with a 400 that names the field, rather than
 * silently ignored.
 */
final class UnsupportedParameters {
    private UnsupportedParameters() {}

    private static final Predicate<JsonNode> ZERO = v -> v.isNumber() && v.doubleValue() == 0;
    private static final Predicate<JsonNode> EMPTY = v -> (v.isObject() || v.isArray()) && v.isEmpty();
    private static final Predicate<JsonNode> ANY_STRING = JsonNode::isTextual;

    /** Both endpoints. */
    private static Map<String, Predicate<JsonNode>> common() {
        Map<String, Predicate<JsonNode>> m = new HashMap<>();
        m.put("frequency_penalty", ZERO);
        m.put("presence_penalty", ZERO);
        m.put("logit_bias", EMPTY);
        m.put("store", v -> v.isBoolean() && !v.booleanValue());
        m.put("metadata", JsonNode::isObject); // only kept by OpenAI with store: true
        m.put("service_tier", v -> Set.of("auto", "default").contains(v.asText()));
        m.put("safety_identifier", ANY_STRING);
        m.put("prompt_cache_key", ANY_STRING);
        return m;
    }

    static final Map<String, Predicate<JsonNode>> CHAT;
    static final Map<String, Predicate<JsonNode>> COMPLETIONS;

    static {
        Map<String, Predicate<JsonNode>> chat = common();
        chat.put("tools", EMPTY);
        chat.put("functions", EMPTY);
        chat.put("tool_choice", v -> Set.of("none", "auto").contains(v.asText()));
        chat.put("function_call", v -> Set.of("none", "auto").contains(v.asText()));
        chat.put("parallel_tool_calls", JsonNode::isBoolean);
        chat.put("response_format", v -> v.isObject() && v.size() == 1 && "text".equals(v.path("type").asText()));
        chat.put("modalities", v -> v.isArray() && v.size() == 1 && "text".equals(v.get(0).asText()));
        CHAT = Map.copyOf(chat);
        Map<String, Predicate<JsonNode>> completions = common();
        completions.put("suffix", v -> v.isTextual() && v.asText().isEmpty());
        completions.put("best_of", v -> v.isNumber() && v.doubleValue() == 1);
        COMPLETIONS = Map.copyOf(completions);
    }
}
