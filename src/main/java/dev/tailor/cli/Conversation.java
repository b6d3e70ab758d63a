package dev.tailor.cli;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A --messages file: a JSON array of chat messages, or an object with "messages" (and optionally
 * "tools"), as in an OpenAI request or a training example line.
 */
record Conversation(List<Map<String, Object>> messages, List<Map<String, Object>> tools) {
    private static final TypeReference<List<Map<String, Object>>> LIST_OF_OBJECTS = new TypeReference<>() {};

    static Conversation read(Path file) {
        JsonNode root = Json.readTree(file);
        JsonNode messages = root.isArray() ? root : root.get("messages");
        if (messages == null || !messages.isArray()) {
            throw new TailorException(file + ": expected a JSON array of messages or an object with a \"messages\" array");
        }
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            if (!m.isObject() || !m.path("role").isTextual()) {
                throw new TailorException(file + ": message " + i + " needs a string \"role\" (system, user, assistant or tool)");
            }
        }
        JsonNode tools = root.isObject() ? root.get("tools") : null;
        return new Conversation(Json.MAPPER.convertValue(messages, LIST_OF_OBJECTS),
                tools == null || tools.isNull() ? null : Json.MAPPER.convertValue(tools, LIST_OF_OBJECTS));
    }

    static List<Map<String, Object>> readTools(Path file) {
        JsonNode root = Json.readTree(file);
        JsonNode tools = root.isArray() ? root : root.get("tools");
        if (tools == null || !tools.isArray()) {
            throw new TailorException(file + ": expected a JSON array of tools or an object with a \"tools\" array");
        }
        return Json.MAPPER.convertValue(tools, LIST_OF_OBJECTS);
    }
}
