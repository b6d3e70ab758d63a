package dev.tailor.data;

import dev.tailor.TailorException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The training-data formats Tailor recognises (see README "tailor data validate"). */
public enum DataFormat {
    /** {"messages": [...], "tools"?}: supervised fine-tuning on conversations. */
    CHAT,
    /** {"prompt": ..., "completion": ...}. */
    COMPLETION,
    /** {"text": ...}: plain text (continued pretraining). */
    TEXT,
    /** DPO pairs: messages+chosen+rejected, prompt+chosen+rejected, or OpenAI's input+preferred_output+non_preferred_output. */
    PREFERENCE,
    /** Reinforcement fine-tuning: {"messages": [...]} plus reference fields for graders. */
    RFT,
    /** Chat whose message content is a list of text and image_url parts. */
    VISION;

    /** The name in --format and in the JSON report. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a --format value. */
    public static DataFormat parse(String value) {
        for (DataFormat f : values()) {
            if (f.id().equals(value)) {
                return f;
            }
        }
        throw new TailorException("--format " + value + ": unknown format; use one of "
                + Arrays.stream(values()).map(DataFormat::id).collect(Collectors.joining(", ")));
    }

    /** Chat, RFT and vision examples are all conversations; a file may mix them. */
    boolean conversational() {
        return this == CHAT || this == RFT || this == VISION;
    }

    /** How the format is named in messages to the user. */
    String describe() {
        return switch (this) {
            case CHAT -> "a chat example ({\"messages\": [...]})";
            case COMPLETION -> "a prompt/completion example";
            case TEXT -> "a text example ({\"text\": ...})";
            case PREFERENCE -> "a preference pair (chosen/rejected)";
            case RFT -> "a reinforcement fine-tuning example (messages with reference fields)";
            case VISION -> "a vision example (image content)";
        };
    }
}
