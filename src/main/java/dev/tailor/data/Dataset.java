package dev.tailor.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * An SFT training file: JSONL (UTF-8, optional BOM, blank lines skipped, gzipped when the name
 * ends in .gz) of chat ({"messages": [...], "tools"?}), prompt/completion or {"text"} examples.
 * The format is detected from the first example and every line must match it. Every problem is a
 * TailorException "FILE:LINE: problem; fix".
 */
public final class Dataset {
    private static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
    private static final String FORMATS = "write one JSON object per line: {\"messages\": [...]},"
            + " {\"prompt\": ..., \"completion\": ...} or {\"text\": ...}";
    /** Trailing text after the object (two objects on one line) is an error, not silently dropped. */
    private static final ObjectReader LINE_READER = Json.MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {};

    private final Path file;
    private final Example.Kind kind;
    private final List<Example> examples;

    private Dataset(Path file, Example.Kind kind, List<Example> examples) {
        this.file = file;
        this.kind = kind;
        this.examples = examples;
    }

    /**
     * Reads a JSONL file (UTF-8, optional BOM, blank lines skipped, .jsonl.gz too) of chat, prompt/
     * completion or text examples; the format of the first example is the file's. Errors are
     * TailorException "FILE:LINE: problem; fix" (invalid JSON, not an object, missing or empty
     * messages, a message without role or content, an unknown role, a weight other than 0 or 1, no
     * assistant message, an empty completion, mixed formats) or "FILE: ..." for an empty file.
     */
    public static Dataset load(Path file) {
        List<Example> examples = new ArrayList<>();
        int lineNumber = 0;
        try (InputStream in = open(file)) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            while (readLine(in, bytes)) {
                lineNumber++;
                String line = decode(bytes, file, lineNumber);
                if (lineNumber == 1 && line.startsWith("\uFEFF")) {
                    line = line.substring(1);
                }
                if (line.isBlank()) {
                    continue;
                }
                examples.add(new LineParser(file, lineNumber).parse(line, examples.isEmpty() ? null : examples.get(0)));
            }
        } catch (NoSuchFileException e) {
            throw new TailorException(file + ": file not found; check the path");
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage() + "; check the file (a .gz file must be gzip)", e);
        }
        if (examples.isEmpty()) {
            throw new TailorException(file + ": the file has no examples; " + FORMATS);
        }
        return new Dataset(file, examples.get(0).kind(), List.copyOf(examples));
    }

    public Path file() {
        return file;
    }

    public Example.Kind kind() {
        return kind;
    }

    public List<Example> examples() {
        return examples;
    }

    public int size() {
        return examples.size();
    }

    private static InputStream open(Path file) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(file));
        try {
            return file.getFileName().toString().endsWith(".gz") ? new BufferedInputStream(new GZIPInputStream(in)) : in;
        } catch (IOException e) {
            in.close();
            throw e;
        }
    }

    /**
     * Reads the bytes of the next line (without its \n) into line; false at the end of the input.
     * Lines are split as bytes so that an encoding error is reported on its own line.
     */
    private static boolean readLine(InputStream in, ByteArrayOutputStream line) throws IOException {
        line.reset();
        int b = in.read();
        if (b < 0) {
            return false;
        }
        while (b >= 0 && b != '\n') {
            line.write(b);
            b = in.read();
        }
        return true;
    }

    /** Strict UTF-8 (no training on replacement characters), without the \r of CRLF files. */
    private static String decode(ByteArrayOutputStream bytes, Path file, int lineNumber) {
        try {
            String line = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes.toByteArray()))
                    .toString();
            return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
        } catch (CharacterCodingException e) {
            throw new TailorException(file + ":" + lineNumber + ": not valid UTF-8; save the file as UTF-8");
        }
    }

    /** Parses and validates one line; knows where it is for the error messages. */
    private record LineParser(Path file, int line) {
        Example parse(String text, Example first) {
            JsonNode node = readJson(text);
            if (!node.isObject()) {
                throw error("not a JSON object (found " + node.getNodeType().toString().toLowerCase() + ")", FORMATS);
            }
            Example.Kind kind = detect(node, first == null ? null : first.kind());
            if (first != null && kind != first.kind()) {
                throw error(kind.describe() + " in a file whose first example (line " + first.line() + ") is "
                        + first.kind().describe(), "use one format per file");
            }
            return switch (kind) {
                case CHAT -> chat(node);
                case COMPLETION -> Example.completion(line, string(node, "prompt", true), string(node, "completion", false));
                case TEXT -> Example.text(line, string(node, "text", false));
            };
        }

        private JsonNode readJson(String text) {
            try {
                return LINE_READER.readTree(text);
            } catch (JsonProcessingException e) {
                throw error("invalid JSON at column " + e.getLocation().getColumnNr() + ": "
                        + e.getOriginalMessage().replaceAll("\\s+", " "), "each example must be one JSON object on one line");
            }
        }

        /** The line's format from its keys; a line matching none is reported against the file's format. */
        private Example.Kind detect(JsonNode node, Example.Kind fileKind) {
            if (node.has("chosen") || node.has("rejected")) {
                throw error("a preference pair (chosen/rejected) is DPO data, not SFT data", "train it with DPO");
            }
            if (node.has("messages")) {
                return Example.Kind.CHAT;
            }
            if (node.has("prompt") || node.has("completion")) {
                return Example.Kind.COMPLETION;
            }
            if (node.has("text")) {
                return Example.Kind.TEXT;
            }
            if (fileKind == Example.Kind.CHAT) {
                throw error("missing \"messages\"", "add {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}");
            }
            if (fileKind == Example.Kind.COMPLETION) {
                throw error("missing \"prompt\" and \"completion\"", "add both");
            }
            if (fileKind == Example.Kind.TEXT) {
                throw error("missing \"text\"", "add {\"text\": ...}");
            }
            throw error("not an SFT example (no \"messages\", \"prompt\"/\"completion\" or \"text\")", FORMATS);
        }

        private Example chat(JsonNode node) {
            JsonNode messages = node.get("messages");
            if (!messages.isArray()) {
                throw error("\"messages\" must be an array", "write \"messages\": [{\"role\": ..., \"content\": ...}, ...]");
            }
            if (messages.isEmpty()) {
                throw error("\"messages\" is empty", "add the conversation's messages");
            }
            List<Map<String, Object>> parsed = new ArrayList<>();
            boolean trainable = false;
            boolean anyAssistant = false;
            for (int i = 0; i < messages.size(); i++) {
                Map<String, Object> message = message(messages.get(i), i);
                if ("assistant".equals(message.get("role"))) {
                    anyAssistant = true;
                    trainable |= !Integer.valueOf(0).equals(message.get("weight"));
                }
                parsed.add(message);
            }
            if (!anyAssistant) {
                throw error("no assistant message, so nothing to learn", "add a message with \"role\": \"assistant\"");
            }
            if (!trainable) {
                throw error("every assistant message has \"weight\": 0, so nothing to learn", "set \"weight\": 1 on at least one");
            }
            return Example.chat(line, Collections.unmodifiableList(parsed), tools(node.get("tools")));
        }

        private Map<String, Object> message(JsonNode message, int index) {
            String where = "messages[" + index + "]";
            if (!message.isObject()) {
                throw error(where + " is not an object", "write {\"role\": ..., \"content\": ...}");
            }
            JsonNode role = message.get("role");
            if (role == null || role.isNull()) {
                throw error(where + " has no \"role\"", "add \"role\": \"system\", \"user\", \"assistant\" or \"tool\"");
            }
            if (!role.isTextual() || !ROLES.contains(role.asText())) {
                throw error(where + " has unknown role " + role, "use \"system\", \"user\", \"assistant\" or \"tool\"");
            }
            boolean assistant = role.asText().equals("assistant");
            Map<String, Object> parsed = new LinkedHashMap<>(Json.MAPPER.convertValue(message, MAP));
            JsonNode content = message.get("content");
            boolean toolCalls = assistant && message.path("tool_calls").isArray() && !message.path("tool_calls").isEmpty();
            if (content == null || content.isNull()) {
                if (!toolCalls) {
                    throw error(where + " has no \"content\"", "add \"content\": \"...\"");
                }
                parsed.put("content", "");
            } else if (!content.isTextual()) {
                throw error(where + ": \"content\" must be a string", "write the message text as one JSON string");
            }
            JsonNode weight = message.get("weight");
            if (weight != null) {
                if (!assistant) {
                    throw error(where + ": \"weight\" applies to assistant messages only", "remove it");
                }
                if (!weight.isNumber() || (weight.asDouble() != 0 && weight.asDouble() != 1)) {
                    throw error(where + ": \"weight\" must be 0 or 1, not " + weight, "use 0 to leave the message out of the loss, 1 to train on it");
                }
                parsed.put("weight", weight.asInt());
            }
            return Collections.unmodifiableMap(parsed);
        }

        private List<Map<String, Object>> tools(JsonNode tools) {
            if (tools == null || tools.isNull()) {
                return null;
            }
            if (!tools.isArray()) {
                throw error("\"tools\" must be an array of tool definitions", "write \"tools\": [{\"type\": \"function\", ...}]");
            }
            List<Map<String, Object>> parsed = new ArrayList<>();
            for (int i = 0; i < tools.size(); i++) {
                if (!tools.get(i).isObject()) {
                    throw error("tools[" + i + "] is not an object", "write each tool as {\"type\": \"function\", \"function\": {...}}");
                }
                parsed.add(Collections.unmodifiableMap(Json.MAPPER.convertValue(tools.get(i), MAP)));
            }
            return Collections.unmodifiableList(parsed);
        }

        /** A string field; the completion and text must not be empty (nothing to learn), a prompt may. */
        private String string(JsonNode node, String field, boolean mayBeEmpty) {
            JsonNode value = node.get(field);
            if (value == null || value.isNull()) {
                throw error("missing \"" + field + "\"", "add \"" + field + "\": \"...\"");
            }
            if (!value.isTextual()) {
                throw error("\"" + field + "\" must be a string", "write it as one JSON string");
            }
            if (!mayBeEmpty && value.asText().isEmpty()) {
                throw error("\"" + field + "\" is empty, so nothing to learn", "write the text to train on or remove the line");
            }
            return value.asText();
        }

        private TailorException error(String problem, String fix) {
            return new TailorException(file + ":" + line + ": " + problem + "; " + fix);
        }
    }
}
