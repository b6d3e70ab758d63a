package dev.tailor.data;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.tailor.Json;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The per-record checks of every data format: the one implementation behind both
 * {@link Dataset#load} (which stops at the first error) and {@link DataValidator} (which collects
 * them all). Each problem goes to the {@link Sink} as (line, code, "problem; fix"); codes are the
 * OpenAI cookbook's where it has one (data_type, missing_messages_list, message_missing_key,
 * message_unrecognized_key, unrecognized_role, missing_content, example_missing_assistant_message).
 *
 * <p>The file's format is the forced one, or else the first valid record's; conversational
 * formats (chat, rft, vision) may mix, any other mix is an error.
 */
final class RecordChecker {
    /** Receives each error (may throw to stop at the first) and each warning found inside a record. */
    interface Sink {
        void error(int line, String code, String message);

        default void warning(int line, String code, String message) {}
    }

    static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
    /** The cookbook's allowed message keys, plus the tool-use and reasoning keys chat templates read. */
    static final Set<String> MESSAGE_KEYS = Set.of("role", "content", "name", "weight", "function_call", "tool_calls",
            "tool_call_id", "reasoning_content", "thinking");
    /** Top-level keys of a chat example that are not RFT reference fields. */
    private static final Set<String> CHAT_KEYS = Set.of("messages", "tools", "parallel_tool_calls", "functions", "metadata");
    static final String SFT_FORMATS = "write one JSON object per line: {\"messages\": [...]},"
            + " {\"prompt\": ..., \"completion\": ...} or {\"text\": ...}";
    private static final String ANY_FORMATS = "write one JSON object per line: {\"messages\": [...]}, {\"prompt\", \"completion\"},"
            + " {\"text\"}, or a preference pair with \"chosen\" and \"rejected\"";
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};

    private final Sink sink;
    private final boolean sftOnly;
    private final boolean buildExamples;
    private final ImageCheck images;
    private final DataFormat forced;
    private DataFormat fileFormat;
    private int firstLine;

    /**
     * @param sftOnly training's view: chat, completion and text only (rft is read as chat, images are refused)
     * @param buildExamples whether valid records carry their {@link Example}s (costs a conversion per message)
     * @param forced the format every record must have, or null to detect it
     */
    RecordChecker(Sink sink, boolean sftOnly, boolean buildExamples, DataFormat forced, Path dataFile) {
        this.sink = sink;
        this.sftOnly = sftOnly;
        this.buildExamples = buildExamples;
        this.forced = forced;
        this.fileFormat = forced;
        this.images = new ImageCheck(dataFile == null ? null : dataFile.toAbsolutePath().getParent());
    }

    /** The file's format so far (null before the first valid record). */
    DataFormat fileFormat() {
        return fileFormat;
    }

    /** Checks one record; null when it has an error (already reported). */
    CheckedRecord check(int line, JsonNode node) {
        Record r = new Record(line);
        if (!node.isObject()) {
            r.error("data_type", "not a JSON object (found " + node.getNodeType().toString().toLowerCase() + ")",
                    sftOnly ? SFT_FORMATS : ANY_FORMATS);
            return null;
        }
        DataFormat format = detect(node);
        if (format == null) {
            missingFormatKeys(r);
            return null;
        }
        if (sftOnly && format == DataFormat.PREFERENCE) {
            r.error("unsupported_format", "a preference pair (chosen/rejected) is DPO data, not SFT data", "train it with DPO");
            return null;
        }
        if (fileFormat == null) {
            fileFormat = format == DataFormat.VISION ? DataFormat.CHAT : format;
            firstLine = line;
        } else if (format != fileFormat && !(format.conversational() && fileFormat.conversational())) {
            r.error("mixed_formats", format.describe() + (firstLine > 0 ? " in a file whose first example (line " + firstLine + ") is "
                    + fileFormat.describe() : " where --format " + fileFormat.id() + " expects " + fileFormat.describe()),
                    "use one format per file");
            return null;
        }
        // conversational records are checked as what they are: a chat file may carry an RFT-shaped line
        CheckedRecord checked = switch (forced != null ? forced : format) {
            case CHAT, VISION -> conversation(r, node, true);
            case RFT -> conversation(r, node, false);
            case COMPLETION -> completion(r, node);
            case TEXT -> text(r, node);
            case PREFERENCE -> preference(r, node);
        };
        return r.failed ? null : checked;
    }

    /** The record's format from its keys, or null when it has none of them. */
    private DataFormat detect(JsonNode node) {
        if (node.has("chosen") || node.has("rejected") || node.has("preferred_output") || node.has("non_preferred_output")) {
            return DataFormat.PREFERENCE;
        }
        if (node.has("messages")) {
            if (!sftOnly && hasImage(node.get("messages"))) {
                return DataFormat.VISION;
            }
            return !sftOnly && hasReferenceFields(node) && !hasAssistant(node.get("messages")) ? DataFormat.RFT : DataFormat.CHAT;
        }
        if (node.has("prompt") || node.has("completion")) {
            return DataFormat.COMPLETION;
        }
        return node.has("text") ? DataFormat.TEXT : null;
    }

    /** Top-level keys beyond a chat example's (metadata such as "id" in a chat file with answers stays chat). */
    private static boolean hasReferenceFields(JsonNode node) {
        for (Iterator<String> keys = node.fieldNames(); keys.hasNext();) {
            if (!CHAT_KEYS.contains(keys.next())) {
                return true;
            }
        }
        return false;
    }

    private static boolean hasAssistant(JsonNode messages) {
        for (JsonNode message : messages) {
            if ("assistant".equals(message.path("role").asText())) {
                return true;
            }
        }
        return false;
    }

    private static boolean hasImage(JsonNode messages) {
        for (JsonNode message : messages) {
            for (JsonNode part : message.path("content")) {
                if ("image_url".equals(part.path("type").asText())) {
                    return true;
                }
            }
        }
        return false;
    }

    private void missingFormatKeys(Record r) {
        if (fileFormat == null) {
            r.error("unknown_format", sftOnly ? "not an SFT example (no \"messages\", \"prompt\"/\"completion\" or \"text\")"
                    : "not a recognised example (no \"messages\", \"prompt\"/\"completion\", \"text\" or \"chosen\"/\"rejected\")",
                    sftOnly ? SFT_FORMATS : ANY_FORMATS);
            return;
        }
        switch (fileFormat) {
            case CHAT, VISION, RFT -> r.error("missing_messages_list", "missing \"messages\"",
                    "add {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}");
            case COMPLETION -> r.error("missing_field", "missing \"prompt\" and \"completion\"", "add both");
            case TEXT -> r.error("missing_field", "missing \"text\"", "add {\"text\": ...}");
            case PREFERENCE -> r.error("missing_field", "missing \"chosen\" and \"rejected\"", "add the preferred and the rejected answer");
        }
    }

    /** Chat, vision or RFT (needsAssistant false: the model writes the answer, graders check it). */
    private CheckedRecord conversation(Record r, JsonNode node, boolean needsAssistant) {
        Messages m = messages(r, node.get("messages"), "", needsAssistant);
        List<Map<String, Object>> tools = tools(r, node.get("tools"));
        if (!needsAssistant) {
            if (!hasReferenceFields(node)) {
                r.error("missing_reference_fields", "an RFT example without reference fields for the grader",
                        "add the fields your grader reads, e.g. \"answer\"");
            }
        }
        if (r.failed || m == null) {
            return null;
        }
        DataFormat format = m.images > 0 ? DataFormat.VISION : needsAssistant ? DataFormat.CHAT : DataFormat.RFT;
        List<Example> examples = buildExamples && needsAssistant && m.images == 0
                ? List.of(Example.chat(r.line, m.parsed, tools)) : List.of();
        return new CheckedRecord(r.line, format, examples, m.roles, m.system, m.lastAssistant, m.text.toString(), m.images,
                m.promptStart, m.lastAssistant == null ? m.text.length() : m.promptEnd, m.characters);
    }

    /** The checked messages of a conversation (or of one side of a preference pair). */
    private static final class Messages {
        final List<Map<String, Object>> parsed = new ArrayList<>();
        final List<String> roles = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        String system;
        String lastAssistant;
        int images;
        /** Where text's prompt starts (after the leading system messages) and ends (before the last assistant message). */
        int promptStart;
        int promptEnd;
        /** The length of every message's content. */
        int characters;
    }

    /**
     * Checks a message list; where names the list in messages (e.g. "chosen" or ""), needsAssistant
     * requires a trained assistant message. Null when the list itself is unusable.
     */
    private Messages messages(Record r, JsonNode messages, String where, boolean needsAssistant) {
        String name = where.isEmpty() ? "messages" : where;
        if (messages == null || messages.isNull()) {
            r.error("missing_messages_list", "missing \"" + name + "\"", "add \"" + name + "\": [{\"role\": ..., \"content\": ...}, ...]");
            return null;
        }
        if (!messages.isArray()) {
            r.error("missing_messages_list", "\"" + name + "\" must be an array", "write \"" + name + "\": [{\"role\": ..., \"content\": ...}, ...]");
            return null;
        }
        if (messages.isEmpty()) {
            r.error("missing_messages_list", "\"" + name + "\" is empty", "add the conversation's messages");
            return null;
        }
        Messages m = new Messages();
        boolean anyAssistant = false;
        boolean trainable = false;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode message = messages.get(i);
            String role = message(r, message, name + "[" + i + "]", m);
            m.roles.add(role);
            if ("assistant".equals(role)) {
                anyAssistant = true;
                trainable |= !message.path("weight").isNumber() || message.path("weight").asDouble() != 0;
            }
        }
        if (needsAssistant && !anyAssistant) {
            r.error("example_missing_assistant_message", "no assistant message" + (where.isEmpty() ? "" : " in \"" + where + "\"")
                    + ", so nothing to learn", "add a message with \"role\": \"assistant\"");
        } else if (needsAssistant && !trainable) {
            r.error("no_trained_message", "every assistant message has \"weight\": 0, so nothing to learn", "set \"weight\": 1 on at least one");
        }
        return m;
    }

    /** Checks one message, adds it to m and returns its role (null when unusable). */
    private String message(Record r, JsonNode message, String where, Messages m) {
        if (!message.isObject()) {
            r.error("data_type", where + " is not an object", "write {\"role\": ..., \"content\": ...}");
            return null;
        }
        JsonNode role = message.get("role");
        if (role == null || role.isNull()) {
            r.error("message_missing_key", where + " has no \"role\"", "add \"role\": \"system\", \"user\", \"assistant\" or \"tool\"");
            return null;
        }
        if (!role.isTextual() || !ROLES.contains(role.asText())) {
            r.error("unrecognized_role", where + " has unknown role " + role, "use \"system\", \"user\", \"assistant\" or \"tool\"");
            return null;
        }
        String roleName = role.asText();
        boolean assistant = roleName.equals("assistant");
        for (Iterator<String> keys = message.fieldNames(); keys.hasNext();) {
            String key = keys.next();
            if (!MESSAGE_KEYS.contains(key)) {
                r.error("message_unrecognized_key", where + " has unrecognised key " + TextNode.valueOf(key),
                        "remove it (allowed: role, content, name, weight, tool_calls, tool_call_id, function_call)");
            }
        }
        JsonNode toolCalls = message.get("tool_calls");
        boolean callsTools = assistant && ((toolCalls != null && toolCalls.isArray() && !toolCalls.isEmpty()) || message.has("function_call"));
        JsonNode content = message.get("content");
        String text = "";
        if (content == null) {
            if (!callsTools) {
                r.error("message_missing_key", where + " has no \"content\"", "add \"content\": \"...\"");
            }
        } else if (content.isNull()) {
            if (!callsTools) {
                r.error("missing_content", where + " has null \"content\"", "write the message text as one JSON string");
            }
        } else if (content.isTextual()) {
            text = content.asText();
            if (text.isBlank() && !callsTools && !roleName.equals("tool")) {
                r.error("empty_content", where + " has empty \"content\"", "write the message text or remove the message");
            }
        } else if (content.isArray() && !sftOnly) {
            text = parts(r, content, where, assistant, m);
        } else {
            r.error("missing_content", where + ": \"content\" must be a string", "write the message text as one JSON string");
        }
        JsonNode weight = message.get("weight");
        if (weight != null) {
            if (!assistant) {
                r.error("invalid_weight", where + ": \"weight\" applies to assistant messages only", "remove it");
            } else if (!weight.isNumber() || (weight.asDouble() != 0 && weight.asDouble() != 1)) {
                r.error("invalid_weight", where + ": \"weight\" must be 0 or 1, not " + weight,
                        "use 0 to leave the message out of the loss, 1 to train on it");
            }
        }
        if (roleName.equals("system") && m.system == null) {
            m.system = text;
        }
        int start = m.text.length();
        m.text.append(roleName).append(": ").append(text).append('\n');
        m.characters += text.length();
        if (assistant) {
            m.lastAssistant = text;
            m.promptEnd = start;
        }
        if (roleName.equals("system") && m.promptStart == start) {
            m.promptStart = m.text.length(); // system prompts are shared by design: leakage compares what follows them
        }
        if (buildExamples && !r.failed) {
            Map<String, Object> parsed = new LinkedHashMap<>(Json.MAPPER.convertValue(message, MAP));
            if (content == null || content.isNull()) {
                parsed.put("content", ""); // a tool call without text: every template can concatenate ""
            }
            if (weight != null) {
                parsed.put("weight", weight.asInt());
            }
            m.parsed.add(Collections.unmodifiableMap(parsed));
        }
        return roleName;
    }

    /** Vision content: text and image_url parts; returns the text parts joined. */
    private String parts(Record r, JsonNode parts, String where, boolean assistant, Messages m) {
        StringBuilder text = new StringBuilder();
        boolean partsValid = true;
        for (int j = 0; j < parts.size(); j++) {
            JsonNode part = parts.get(j);
            String at = where + ".content[" + j + "]";
            String type = part.path("type").asText("");
            if (type.equals("text") && part.path("text").isTextual()) {
                text.append(part.get("text").asText());
            } else if (type.equals("image_url")) {
                JsonNode url = part.path("image_url").path("url");
                if (!url.isTextual()) {
                    partsValid = false;
                    r.error("invalid_content_part", at + ": an image_url part needs \"image_url\": {\"url\": \"...\"}",
                            "give a data: URL or a local file path");
                } else if (assistant) {
                    partsValid = false;
                    r.error("image_in_assistant_message", at + ": images are allowed in user messages only",
                            "move the image to a user message");
                } else {
                    m.images++;
                    DataIssue problem = images.check(url.asText(), at);
                    if (problem != null && ImageCheck.isWarning(problem.code())) {
                        sink.warning(r.line, problem.code(), problem.message());
                    } else if (problem != null) {
                        r.error(problem.code(), problem.message(), null);
                    }
                    text.append("<image:").append(Integer.toHexString(url.asText().hashCode())).append('>');
                }
            } else {
                partsValid = false;
                r.error("invalid_content_part", at + " is not a {\"type\": \"text\", \"text\": ...} or"
                        + " {\"type\": \"image_url\", \"image_url\": {...}} part", "fix the part");
            }
        }
        if (partsValid && text.toString().isBlank() && m.images == 0) {
            r.error("empty_content", where + " has empty \"content\"", "write the message text or remove the message");
        }
        return text.toString();
    }

    private List<Map<String, Object>> tools(Record r, JsonNode tools) {
        if (tools == null || tools.isNull()) {
            return null;
        }
        if (!tools.isArray()) {
            r.error("invalid_tools", "\"tools\" must be an array of tool definitions", "write \"tools\": [{\"type\": \"function\", ...}]");
            return null;
        }
        List<Map<String, Object>> parsed = new ArrayList<>();
        for (int i = 0; i < tools.size(); i++) {
            if (!tools.get(i).isObject()) {
                r.error("invalid_tools", "tools[" + i + "] is not an object", "write each tool as {\"type\": \"function\", \"function\": {...}}");
            } else if (buildExamples) {
                parsed.add(Collections.unmodifiableMap(Json.MAPPER.convertValue(tools.get(i), MAP)));
            }
        }
        return Collections.unmodifiableList(parsed);
    }

    private CheckedRecord completion(Record r, JsonNode node) {
        String prompt = string(r, node, "prompt", "missing_field");
        String completion = string(r, node, "completion", "empty_completion");
        if (r.failed) {
            return null;
        }
        List<Example> examples = buildExamples ? List.of(Example.completion(r.line, prompt, completion)) : List.of();
        return new CheckedRecord(r.line, DataFormat.COMPLETION, examples, List.of(), null, completion,
                prompt + "\n" + completion, 0, 0, prompt.length(), prompt.length() + completion.length());
    }

    private CheckedRecord text(Record r, JsonNode node) {
        String text = string(r, node, "text", "empty_text");
        if (r.failed) {
            return null;
        }
        List<Example> examples = buildExamples ? List.of(Example.text(r.line, text)) : List.of();
        return new CheckedRecord(r.line, DataFormat.TEXT, examples, List.of(), null, null, text, 0, 0, text.length(), text.length());
    }

    /**
     * A string field; emptyCode names the error for an empty value (null: empty is fine, as for a
     * prompt). Returns null after reporting a problem.
     */
    private static String string(Record r, JsonNode node, String field, String emptyCode) {
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            r.error("missing_field", "missing \"" + field + "\"", "add \"" + field + "\": \"...\"");
            return null;
        }
        if (!value.isTextual()) {
            r.error("field_type", "\"" + field + "\" must be a string", "write it as one JSON string");
            return null;
        }
        if (!emptyCode.equals("missing_field") && value.asText().isEmpty()) {
            r.error(emptyCode, "\"" + field + "\" is empty, so nothing to learn", "write the text to train on or remove the line");
        }
        return value.asText();
    }

    /**
     * A DPO pair in any of its three forms: the guide's messages + chosen + rejected, TRL's prompt +
     * chosen + rejected (strings or message lists), OpenAI's input.messages + preferred_output +
     * non_preferred_output.
     */
    private CheckedRecord preference(Record r, JsonNode node) {
        boolean openai = node.has("input") || node.has("preferred_output") || node.has("non_preferred_output");
        String chosenKey = openai ? "preferred_output" : "chosen";
        String rejectedKey = openai ? "non_preferred_output" : "rejected";
        Messages prompt = null;
        String promptText = null;
        if (openai) {
            JsonNode input = node.get("input");
            if (input == null || !input.isObject()) {
                r.error("missing_field", "missing \"input\": {\"messages\": [...]}", "put the prompt messages in \"input\"");
            } else {
                prompt = messages(r, input.get("messages"), "input.messages", false);
            }
        } else if (node.has("messages")) {
            prompt = messages(r, node.get("messages"), "messages", false);
        } else if (node.path("prompt").isArray()) {
            prompt = messages(r, node.get("prompt"), "prompt", false);
        } else {
            promptText = string(r, node, "prompt", "missing_field");
        }
        Side chosen = side(r, node, chosenKey);
        Side rejected = side(r, node, rejectedKey);
        if (chosen != null && rejected != null && node.get(chosenKey).equals(node.get(rejectedKey))) {
            r.error("identical_preference_pair", "\"" + chosenKey + "\" and \"" + rejectedKey + "\" are identical, so there is no preference to learn",
                    "make the rejected answer the worse one, or drop the pair");
        }
        if (r.failed) {
            return null;
        }
        List<String> roles = new ArrayList<>(prompt == null ? List.of("user") : prompt.roles);
        roles.addAll(chosen.messages == null ? List.of("assistant") : chosen.messages.roles);
        String context = prompt == null ? promptText : prompt.text.toString();
        List<Example> examples = buildExamples && (prompt == null || prompt.images == 0)
                ? List.of(pairExample(r.line, prompt, promptText, chosen), pairExample(r.line, prompt, promptText, rejected)) : List.of();
        int characters = (prompt == null ? promptText.length() : prompt.characters) + Math.max(chosen.characters(), rejected.characters());
        return new CheckedRecord(r.line, DataFormat.PREFERENCE, examples, roles, prompt == null ? null : prompt.system,
                chosen.text, context + "\n" + chosen.text + "\n" + rejected.text, prompt == null ? 0 : prompt.images,
                prompt == null ? 0 : prompt.promptStart, context.length(), characters);
    }

    /** One answer of a pair: a string or a list of (assistant) messages. */
    private record Side(String text, Messages messages) {
        int characters() {
            return messages == null ? text.length() : messages.characters;
        }
    }

    private Side side(Record r, JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (value == null || value.isNull()) {
            r.error("missing_field", "missing \"" + key + "\"", "add the " + (key.contains("non") || key.equals("rejected")
                    ? "worse" : "preferred") + " answer as \"" + key + "\"");
            return null;
        }
        if (value.isTextual()) {
            if (value.asText().isBlank()) {
                r.error("empty_content", "\"" + key + "\" is empty", "write the answer");
                return null;
            }
            return new Side(value.asText(), null);
        }
        Messages m = messages(r, value, key, true);
        return m == null ? null : new Side(m.lastAssistant, m);
    }

    /** The chat (or completion) example a preference side trains on, for token counts. */
    private static Example pairExample(int line, Messages prompt, String promptText, Side side) {
        if (prompt == null && side.messages == null) {
            return Example.completion(line, promptText, side.text);
        }
        List<Map<String, Object>> messages = new ArrayList<>(prompt == null
                ? List.of(Map.of("role", "user", "content", promptText)) : prompt.parsed);
        messages.addAll(side.messages == null ? List.of(Map.of("role", "assistant", "content", side.text)) : side.messages.parsed);
        return Example.chat(line, List.copyOf(messages), null);
    }

    /** The record being checked: its line and whether an error was reported. */
    private final class Record {
        final int line;
        boolean failed;

        Record(int line) {
            this.line = line;
        }

        void error(String code, String problem, String fix) {
            failed = true;
            sink.error(line, code, fix == null ? problem : problem + "; " + fix);
        }
    }
}
