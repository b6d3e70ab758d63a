package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * {@code tailor data convert}: rewrites a data file in another format, record by record, streaming
 * into the output (written atomically, so a record that cannot be converted leaves no file).
 * Possible: completion to chat (prompt as the user message, completion as the assistant's, an
 * optional system message first); chat to completion (a user + assistant conversation directly;
 * any other conversation, with a system message or several turns, only through the model's chat
 * template, which renders everything before the final assistant message as the prompt);
 * preference pairs in any of their three forms to OpenAI's
 * {@code {"input": {"messages"}, "preferred_output", "non_preferred_output"}} or TRL's
 * conversational {@code {"prompt": [messages], "chosen": [assistant], "rejected": [assistant]}}.
 * Keys a format does not define (an "id", "metadata") are carried over after the format's own.
 */
public final class DataConversion {
    /** The formats a file can be converted to. */
    public enum Target {
        CHAT("chat"), COMPLETION("completion"), PREFERENCE_OPENAI("preference-openai"), PREFERENCE_TRL("preference-trl");

        private final String id;

        Target(String id) {
            this.id = id;
        }

        /** The name in --to. */
        public String id() {
            return id;
        }

        /** Parses a --to value. */
        public static Target parse(String value) {
            for (Target t : values()) {
                if (t.id.equals(value)) {
                    return t;
                }
            }
            throw new TailorException("--to " + value + ": unknown format; use one of "
                    + Arrays.stream(values()).map(Target::id).collect(Collectors.joining(", ")));
        }
    }

    /** @param from the input's format, examples the records converted */
    public record Result(DataFormat from, int examples) {}

    static final String POSSIBLE = "possible: completion -> chat, chat -> completion,"
            + " preference (any form) -> preference-openai or preference-trl";
    /** Tool definitions and switches: OpenAI keeps them inside "input", the other forms beside the prompt. */
    private static final Set<String> INPUT_KEYS = Set.of("tools", "parallel_tool_calls");
    /** A chat example's keys that a rendered prompt replaces. */
    private static final Set<String> CHAT_KEYS = Set.of("messages", "tools", "parallel_tool_calls", "functions");
    /** Roles OpenAI allows in preferred_output and non_preferred_output. */
    private static final Set<String> OUTPUT_ROLES = Set.of("assistant", "tool");

    private final Path input;
    private final Target target;
    private final String system;
    private final ChatTemplate template;

    private DataConversion(Path input, Target target, String system, ChatTemplate template) {
        this.input = input;
        this.target = target;
        this.system = system;
        this.template = template;
    }

    /**
     * Converts input into output.
     *
     * @param system a system message to start each converted completion example with (completion to chat), or null
     * @param template the chat template that renders conversations into prompts (chat to completion), or null:
     *     then only user + assistant conversations convert
     * @throws TailorException when the file has an error, the conversion is not possible, or a record
     *     cannot be converted (FILE:LINE and the fix)
     */
    public static Result convert(Path input, Path output, Target target, String system, ChatTemplate template) {
        checkOptions(target, system != null, template != null);
        DataConversion conversion = new DataConversion(input, target, system, template);
        DataFormat[] from = {null};
        int[] count = {0};
        TransformOutput.write(output, out -> from[0] = TransformRecords.read(input, target == Target.COMPLETION, e -> {
            if (e.index() == 0) {
                conversion.checkPossible(e.checked().format());
            }
            out.add(conversion.convert(e));
            count[0]++;
        }));
        return new Result(from[0], count[0]);
    }

    /** Refuses a system message or chat template given for a conversion that does not use it. */
    public static void checkOptions(Target target, boolean system, boolean template) {
        if (system && target != Target.CHAT) {
            throw new TailorException("--system applies to --to chat only");
        }
        if (template && target != Target.COMPLETION) {
            throw new TailorException("--model applies to --to completion only (it renders conversations into prompts)");
        }
    }

    private void checkPossible(DataFormat from) {
        boolean possible = switch (target) {
            case CHAT -> from == DataFormat.COMPLETION;
            case COMPLETION -> from.conversational();
            case PREFERENCE_OPENAI, PREFERENCE_TRL -> from == DataFormat.PREFERENCE;
        };
        if (!possible) {
            throw new TailorException(input + ": " + (from.id().equals(target.id()) ? "is already " + from.id() + " data"
                    : from.id() + " data cannot be converted to " + target.id()) + "; " + POSSIBLE);
        }
    }

    private ObjectNode convert(TransformRecords.Entry e) {
        return switch (target) {
            case CHAT -> chatFromCompletion(e);
            case COMPLETION -> completionFromChat(e);
            case PREFERENCE_OPENAI -> openAi(e, pair(e));
            case PREFERENCE_TRL -> trl(pair(e));
        };
    }

    private PreferencePair pair(TransformRecords.Entry e) {
        PreferencePair pair = PreferencePair.of(e.node());
        JsonNode first = pair.prompt.get(0);
        if (pair.prompt.size() == 1 && first.path("content").isTextual() && first.path("content").asText().isBlank()) {
            throw error(e, "the prompt is empty, and the converted pair needs a user message; write the prompt or drop the line");
        }
        return pair;
    }

    private ObjectNode chatFromCompletion(TransformRecords.Entry e) {
        JsonNode node = e.node();
        String prompt = node.get("prompt").asText();
        if (prompt.isBlank()) {
            throw error(e, "\"prompt\" is empty, and a chat example needs a user message; write the prompt or keep the file as completion data");
        }
        ObjectNode out = Json.MAPPER.createObjectNode();
        ArrayNode messages = out.putArray("messages");
        if (system != null) {
            messages.add(message("system", system));
        }
        messages.add(message("user", prompt));
        messages.add(message("assistant", node.get("completion").asText()));
        return copyOthers(node, out, Set.of("prompt", "completion"));
    }

    private ObjectNode completionFromChat(TransformRecords.Entry e) {
        if (e.checked().format() == DataFormat.VISION) {
            throw error(e, "a conversation with images cannot become a text prompt; only text conversations convert to completion");
        }
        JsonNode messages = e.node().get("messages");
        JsonNode last = messages.get(messages.size() - 1);
        if (!"assistant".equals(last.path("role").asText())) {
            throw error(e, "the conversation does not end with an assistant message, so there is no completion; add the answer"
                    + " or drop the line");
        }
        if (!last.path("content").isTextual() || last.path("content").asText().isEmpty()) {
            throw error(e, "the final assistant message has no text content (a tool call?), so there is no completion; end the"
                    + " conversation with a text answer");
        }
        if (last.path("weight").isNumber() && last.path("weight").asDouble() == 0) {
            throw error(e, "the final assistant message has \"weight\": 0, but a completion is always trained; remove the weight or the line");
        }
        String prompt;
        if (template != null) {
            List<Map<String, Object>> parsed = e.checked().examples().get(0).messages();
            try {
                prompt = template.render(parsed.subList(0, parsed.size() - 1), e.checked().examples().get(0).tools(), true, null);
            } catch (TailorException ex) {
                throw error(e, ex.getMessage());
            }
        } else if (isPlainExchange(e.node())) {
            prompt = messages.get(0).get("content").asText();
        } else {
            throw error(e, "a conversation with a system message, several turns or tools becomes one prompt only through the"
                    + " model's chat template; pass --model DIR (the model you will train)");
        }
        ObjectNode out = Json.MAPPER.createObjectNode();
        out.put("prompt", prompt);
        out.set("completion", last.get("content"));
        return copyOthers(e.node(), out, CHAT_KEYS);
    }

    /** One user message, then the assistant's, and no tools: the prompt is the user's text, needing no template. */
    private static boolean isPlainExchange(JsonNode node) {
        JsonNode messages = node.get("messages");
        return messages.size() == 2 && "user".equals(messages.get(0).path("role").asText())
                && messages.get(0).path("content").isTextual() && !node.hasNonNull("tools") && !node.hasNonNull("functions");
    }

    private ObjectNode openAi(TransformRecords.Entry e, PreferencePair pair) {
        checkOutputRoles(e, pair.chosen, pair.chosenKey);
        checkOutputRoles(e, pair.rejected, pair.rejectedKey);
        ObjectNode out = Json.MAPPER.createObjectNode();
        ObjectNode in = out.putObject("input");
        in.set("messages", pair.prompt);
        in.setAll(pair.inputExtras);
        out.set("preferred_output", pair.chosen);
        out.set("non_preferred_output", pair.rejected);
        return out.setAll(pair.others);
    }

    private static ObjectNode trl(PreferencePair pair) {
        ObjectNode out = Json.MAPPER.createObjectNode();
        out.set("prompt", pair.prompt);
        out.set("chosen", pair.chosen);
        out.set("rejected", pair.rejected);
        out.setAll(pair.inputExtras);
        return out.setAll(pair.others);
    }

    private void checkOutputRoles(TransformRecords.Entry e, ArrayNode side, String key) {
        for (int i = 0; i < side.size(); i++) {
            String role = side.get(i).path("role").asText();
            if (!OUTPUT_ROLES.contains(role)) {
                throw error(e, "\"" + key + "\"[" + i + "] has role \"" + role + "\", but OpenAI's preferred_output and"
                        + " non_preferred_output hold only assistant (and tool) messages; move the earlier turns into the prompt");
            }
        }
    }

    /**
     * A preference record's parts, whatever its form: the prompt as a message list (a prompt string
     * becomes one user message), both answers as message lists (a string becomes one assistant
     * message), the tool keys that OpenAI keeps inside "input", and every other key.
     */
    private record PreferencePair(ArrayNode prompt, ArrayNode chosen, ArrayNode rejected, String chosenKey, String rejectedKey,
            ObjectNode inputExtras, ObjectNode others) {

        static PreferencePair of(JsonNode node) {
            boolean openAi = node.has("input") || node.has("preferred_output") || node.has("non_preferred_output");
            String chosenKey = openAi ? "preferred_output" : "chosen";
            String rejectedKey = openAi ? "non_preferred_output" : "rejected";
            String promptKey = openAi ? "input" : node.has("messages") ? "messages" : "prompt";
            ObjectNode inputExtras = Json.MAPPER.createObjectNode();
            ObjectNode others = Json.MAPPER.createObjectNode();
            ArrayNode prompt;
            if (openAi) {
                JsonNode in = node.get("input");
                prompt = (ArrayNode) in.get("messages");
                for (Iterator<Map.Entry<String, JsonNode>> fields = in.fields(); fields.hasNext();) {
                    Map.Entry<String, JsonNode> field = fields.next();
                    if (!field.getKey().equals("messages")) {
                        inputExtras.set(field.getKey(), field.getValue());
                    }
                }
            } else {
                prompt = messages(node.get(promptKey), "user");
            }
            for (Iterator<Map.Entry<String, JsonNode>> fields = node.fields(); fields.hasNext();) {
                Map.Entry<String, JsonNode> field = fields.next();
                String key = field.getKey();
                if (!Set.of(promptKey, chosenKey, rejectedKey).contains(key)) {
                    (!openAi && INPUT_KEYS.contains(key) ? inputExtras : others).set(key, field.getValue());
                }
            }
            return new PreferencePair(prompt, messages(node.get(chosenKey), "assistant"), messages(node.get(rejectedKey), "assistant"),
                    chosenKey, rejectedKey, inputExtras, others);
        }

        private static ArrayNode messages(JsonNode value, String role) {
            if (value.isArray()) {
                return (ArrayNode) value;
            }
            return Json.MAPPER.createArrayNode().add(message(role, value.asText()));
        }
    }

    private static ObjectNode message(String role, String content) {
        ObjectNode message = Json.MAPPER.createObjectNode();
        message.put("role", role);
        message.put("content", content);
        return message;
    }

    /** Appends node's keys other than skip (and than those already written) to out, in their order. */
    private static ObjectNode copyOthers(JsonNode node, ObjectNode out, Set<String> skip) {
        for (Iterator<Map.Entry<String, JsonNode>> fields = node.fields(); fields.hasNext();) {
            Map.Entry<String, JsonNode> field = fields.next();
            if (!skip.contains(field.getKey()) && !out.has(field.getKey())) {
                out.set(field.getKey(), field.getValue());
            }
        }
        return out;
    }

    private TailorException error(TransformRecords.Entry e, String message) {
        return new TailorException(input + ":" + e.checked().line() + ": " + message);
    }
}
