package dev.tailor.data;

import static dev.tailor.data.TransformTestData.lines;
import static dev.tailor.data.TransformTestData.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.data.DataConversion.Target;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every conversion against hand-written JSON lines; every output must validate as its format. */
class DataConversionTest {
    private static final List<String> COMPLETIONS = List.of(
            "{\"prompt\":\"Capital of France?\",\"completion\":\"Paris\",\"id\":7}",
            "{\"prompt\":\"2+2?\",\"completion\":\"4\"}");
    private static final List<String> CHATS = List.of(
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Capital of France?\"},{\"role\":\"assistant\",\"content\":\"Paris\"}],\"id\":7}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]}");
    /** The same pair in the guide's form, TRL's string form, TRL's conversational form and OpenAI's form. */
    private static final List<String> PREFERENCES = List.of(
            "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Summarize X\"}],"
                    + "\"chosen\":[{\"role\":\"assistant\",\"content\":\"Short.\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"Long and vague.\"}]}",
            "{\"prompt\":\"Summarize Y\",\"chosen\":\"Y in brief.\",\"rejected\":\"Y, at length.\",\"id\":\"y\"}",
            "{\"prompt\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Sunny.\"}],"
                    + "\"rejected\":\"No idea.\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\"}}]}",
            "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"parallel_tool_calls\":true},"
                    + "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Hello!\"}],\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"What.\"}]}");
    private static final List<String> OPENAI = List.of(
            "{\"input\":{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Summarize X\"}]},"
                    + "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Short.\"}],\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"Long and vague.\"}]}",
            "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"Summarize Y\"}]},\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Y in brief.\"}],"
                    + "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"Y, at length.\"}],\"id\":\"y\"}",
            "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\"}}]},"
                    + "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Sunny.\"}],\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"No idea.\"}]}",
            PREFERENCES.get(3));
    private static final List<String> TRL = List.of(
            "{\"prompt\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Summarize X\"}],"
                    + "\"chosen\":[{\"role\":\"assistant\",\"content\":\"Short.\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"Long and vague.\"}]}",
            "{\"prompt\":[{\"role\":\"user\",\"content\":\"Summarize Y\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Y in brief.\"}],"
                    + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"Y, at length.\"}],\"id\":\"y\"}",
            "{\"prompt\":[{\"role\":\"user\",\"content\":\"Weather?\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Sunny.\"}],"
                    + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"No idea.\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\"}}]}",
            "{\"prompt\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Hello!\"}],"
                    + "\"rejected\":[{\"role\":\"assistant\",\"content\":\"What.\"}],\"parallel_tool_calls\":true}");

    @TempDir
    Path dir;

    private List<String> convert(List<String> records, Target target, String system, ChatTemplate template, String expectedFormat)
            throws IOException {
        Path input = write(dir.resolve("in.jsonl"), records);
        byte[] before = Files.readAllBytes(input);
        Path output = dir.resolve("out.jsonl");
        DataConversion.Result r = DataConversion.convert(input, output, target, system, template);
        assertEquals(records.size(), r.examples());
        assertArrayEquals(before, Files.readAllBytes(input));
        ValidationReport report = new DataValidator(null, null, 512).validate(output);
        assertTrue(report.usable(), report.errors().toString());
        assertEquals(expectedFormat, report.format());
        return lines(output);
    }

    private TailorException refused(List<String> records, Target target, ChatTemplate template) throws IOException {
        Path input = write(dir.resolve("in.jsonl"), records);
        Path output = dir.resolve("refused.jsonl");
        TailorException e = assertThrows(TailorException.class, () -> DataConversion.convert(input, output, target, null, template));
        assertFalse(Files.exists(output), "nothing written");
        return e;
    }

    @Test
    void completionToChatAndBack() throws IOException {
        assertEquals(CHATS, convert(COMPLETIONS, Target.CHAT, null, null, "chat"));
        assertEquals(List.of(
                "{\"messages\":[{\"role\":\"system\",\"content\":\"Answer briefly.\"},{\"role\":\"user\",\"content\":\"Capital of France?\"},"
                        + "{\"role\":\"assistant\",\"content\":\"Paris\"}],\"id\":7}",
                "{\"messages\":[{\"role\":\"system\",\"content\":\"Answer briefly.\"},{\"role\":\"user\",\"content\":\"2+2?\"},"
                        + "{\"role\":\"assistant\",\"content\":\"4\"}]}"),
                convert(COMPLETIONS, Target.CHAT, "Answer briefly.", null, "chat"));
        assertEquals(COMPLETIONS, convert(CHATS, Target.COMPLETION, null, null, "completion"));
    }

    /** With a template every prompt is rendered, ChatML's default system message included, and the tools key goes into it. */
    @Test
    void chatToCompletionRendersPromptsWithTheChatTemplate() throws IOException {
        ChatTemplate chatml = ChatTemplate.chatml(Map.of("eos_token", "<|im_end|>"));
        List<String> chats = List.of(CHATS.get(0),
                "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q1\"},{\"role\":\"assistant\",\"content\":\"A1\"},"
                        + "{\"role\":\"user\",\"content\":\"Q2\"},{\"role\":\"assistant\",\"content\":\"A2\",\"weight\":1}],\"tools\":[],\"source\":\"x\"}");

        List<String> out = convert(chats, Target.COMPLETION, null, chatml, "completion");

        assertEquals(List.of(
                "{\"prompt\":\"<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\nCapital of France?<|im_end|>\\n"
                        + "<|im_start|>assistant\\n\",\"completion\":\"Paris\",\"id\":7}",
                "{\"prompt\":\"<|im_start|>system\\nS<|im_end|>\\n<|im_start|>user\\nQ1<|im_end|>\\n<|im_start|>assistant\\nA1<|im_end|>\\n"
                        + "<|im_start|>user\\nQ2<|im_end|>\\n<|im_start|>assistant\\n\",\"completion\":\"A2\",\"source\":\"x\"}"), out);
    }

    @Test
    void chatToCompletionRefusesWhatAPlainPromptCannotHold() throws IOException {
        String multiTurn = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"A\"}]}";
        String rft = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"}],\"answer\":\"A\"}";
        String unweighted = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"},{\"role\":\"assistant\",\"content\":\"A\"},"
                + "{\"role\":\"user\",\"content\":\"Q2\"},{\"role\":\"assistant\",\"content\":\"A2\",\"weight\":0}]}";
        ChatTemplate chatml = ChatTemplate.chatml(Map.of());

        TailorException needsModel = refused(List.of(CHATS.get(0), multiTurn), Target.COMPLETION, null);
        TailorException noAnswer = refused(List.of(CHATS.get(0), rft), Target.COMPLETION, chatml);
        TailorException weightZero = refused(List.of(unweighted), Target.COMPLETION, chatml);

        Path in = dir.resolve("in.jsonl");
        assertEquals(in + ":2: a conversation with a system message, several turns or tools becomes one prompt only through the model's"
                + " chat template; pass --model DIR (the model you will train)", needsModel.getMessage());
        assertTrue(noAnswer.getMessage().startsWith(in + ":2: the conversation does not end with an assistant message"), noAnswer.getMessage());
        assertTrue(weightZero.getMessage().startsWith(in + ":1: the final assistant message has \"weight\": 0"), weightZero.getMessage());
    }

    @Test
    void everyPreferenceFormToOpenAiAndToTrl() throws IOException {
        assertEquals(OPENAI, convert(PREFERENCES, Target.PREFERENCE_OPENAI, null, null, "preference"));
        assertEquals(TRL, convert(PREFERENCES, Target.PREFERENCE_TRL, null, null, "preference"));
    }

    @Test
    void openAiToTrlToOpenAiIsTheIdentity() throws IOException {
        List<String> trl = convert(OPENAI, Target.PREFERENCE_TRL, null, null, "preference");

        assertEquals(TRL, trl);
        assertEquals(OPENAI, convert(trl, Target.PREFERENCE_OPENAI, null, null, "preference"));
    }

    @Test
    void openAiOutputsHoldOnlyAssistantMessages() throws IOException {
        String pair = "{\"messages\":[{\"role\":\"user\",\"content\":\"Q\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"A\"},"
                + "{\"role\":\"user\",\"content\":\"more\"},{\"role\":\"assistant\",\"content\":\"B\"}],\"rejected\":\"C\"}";

        TailorException e = refused(List.of(pair), Target.PREFERENCE_OPENAI, null);

        assertTrue(e.getMessage().startsWith(dir.resolve("in.jsonl") + ":1: \"chosen\"[1] has role \"user\""), e.getMessage());
    }

    @Test
    void anEmptyPromptCannotBecomeAUserMessage() throws IOException {
        TailorException completion = refused(List.of("{\"prompt\":\"\",\"completion\":\"text\"}"), Target.CHAT, null);
        TailorException pair = refused(List.of("{\"prompt\":\"\",\"chosen\":\"a\",\"rejected\":\"b\"}"), Target.PREFERENCE_TRL, null);

        assertTrue(completion.getMessage().contains(":1: \"prompt\" is empty"), completion.getMessage());
        assertTrue(pair.getMessage().contains(":1: the prompt is empty"), pair.getMessage());
    }

    @Test
    void unsupportedConversionsListWhatIsPossible() throws IOException {
        TailorException text = refused(List.of("{\"text\":\"plain\"}"), Target.PREFERENCE_OPENAI, null);
        TailorException same = refused(CHATS, Target.CHAT, null);
        TailorException pairToChat = refused(PREFERENCES, Target.COMPLETION, null);

        Path in = dir.resolve("in.jsonl");
        assertEquals(in + ": text data cannot be converted to preference-openai; " + DataConversion.POSSIBLE, text.getMessage());
        assertEquals(in + ": is already chat data; " + DataConversion.POSSIBLE, same.getMessage());
        assertEquals(in + ": preference data cannot be converted to completion; " + DataConversion.POSSIBLE, pairToChat.getMessage());
    }

    @Test
    void optionsThatTheConversionDoesNotUseAreRefused() {
        assertThrows(TailorException.class, () -> DataConversion.checkOptions(Target.COMPLETION, true, false));
        assertThrows(TailorException.class, () -> DataConversion.checkOptions(Target.PREFERENCE_TRL, false, true));
        DataConversion.checkOptions(Target.CHAT, true, false);
        DataConversion.checkOptions(Target.COMPLETION, false, true);
        assertEquals(Target.PREFERENCE_OPENAI, Target.parse("preference-openai"));
        assertEquals("--to xml: unknown format; use one of chat, completion, preference-openai, preference-trl",
                assertThrows(TailorException.class, () -> Target.parse("xml")).getMessage());
    }
}
