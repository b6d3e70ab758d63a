package dev.tailor.data;

import java.util.List;
import java.util.Map;

/**
 * One training example as read from a JSONL line (1-based line number kept for messages).
 *
 * <p>A {@link Kind#CHAT} example has {@code messages} (JSON objects as Jackson parses them; an
 * assistant message with {@code tool_calls} and no content gets {@code "content": ""} so every
 * template can concatenate it) and {@code tools} (null when the line has none: templates test
 * {@code tools is not none}); prompt, completion and text are null. A {@link Kind#COMPLETION}
 * example has prompt and completion, a {@link Kind#TEXT} example text; their messages are empty.
 */
public record Example(int line, Kind kind, List<Map<String, Object>> messages, List<Map<String, Object>> tools,
        String prompt, String completion, String text) {

    /** The three SFT formats: chat messages, prompt/completion pairs, plain text. */
    public enum Kind {
        CHAT, COMPLETION, TEXT;

        /** How the format is named in messages to the user. */
        String describe() {
            return switch (this) {
                case CHAT -> "a chat example ({\"messages\": [...]})";
                case COMPLETION -> "a prompt/completion example";
                case TEXT -> "a text example ({\"text\": ...})";
            };
        }
    }

    static Example chat(int line, List<Map<String, Object>> messages, List<Map<String, Object>> tools) {
        return new Example(line, Kind.CHAT, messages, tools, null, null, null);
    }

    static Example completion(int line, String prompt, String completion) {
        return new Example(line, Kind.COMPLETION, List.of(), null, prompt, completion, null);
    }

    static Example text(int line, String text) {
        return new Example(line, Kind.TEXT, List.of(), null, null, null, text);
    }
}
