package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One arm of an {@link Experiment}: the model it routes to ({@code "base"} or an adapter name),
 * an optional system prompt that replaces the request's own (a prompt variant), and its relative
 * traffic weight (90 and 10, or 0.9 and 0.1, give the same split). Built and validated by
 * {@link Experiment#fromJson}.
 *
 * @param systemPrompt null keeps the request's messages as they are
 */
public record Variant(String name, String target, String systemPrompt, double weight) {

    /**
     * The messages this variant sends to its model: unchanged without a system prompt; otherwise
     * a copy whose first message is the variant's system message (the request's leading system
     * message is replaced, or one is inserted when the request has none).
     */
    public ArrayNode applySystemPrompt(ArrayNode messages) {
        if (systemPrompt == null) {
            return messages;
        }
        ArrayNode out = messages.deepCopy();
        JsonNode first = out.isEmpty() ? null : out.get(0);
        if (first != null && first.isObject() && "system".equals(first.path("role").asText())) {
            ((ObjectNode) first).put("content", systemPrompt);
        } else {
            out.insertObject(0).put("role", "system").put("content", systemPrompt);
        }
        return out;
    }

    /** The variant as it appears in serve.yaml and {@code POST /v1/experiments}. */
    Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", name);
        out.put("target", target);
        out.put("weight", weight);
        if (systemPrompt != null) {
            out.put("system_prompt", systemPrompt);
        }
        return out;
    }
}
