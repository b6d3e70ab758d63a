package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.model.ModelPreset;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loss masks of real templates with the real Qwen3 vocabulary. The expected trained texts are
 * written by hand from reading the templates. There is no Llama 3 tokenizer in the test data, so
 * Llama 3.1's template runs on the Qwen3 vocabulary extended by Llama 3's four special tokens as
 * special added tokens, with Llama 3's tokenizer_config (BOS added by the tokenizer): that is
 * what span finding and the single-BOS rule depend on.
 */
class ChatEncoderTest {
    static final Map<String, Object> QWEN3_TOKENS = Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>");
    static final Map<String, Object> LLAMA3_TOKENS = Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>");

    @TempDir
    static Path dir;
    static Tokenizer qwen3;
    static Tokenizer llama3;
    static ChatEncoder qwen3Encoder;
    static ChatEncoder llama3Encoder;
    static ChatTemplate qwen3Template;
    static ChatTemplate llama3Template;

    @BeforeAll
    static void load() throws IOException {
        qwen3 = Tokenizer.fromModelDir(unpackQwen3(Files.createDirectory(dir.resolve("qwen3"))));
        llama3 = Tokenizer.fromModelDir(llama3Style(Files.createDirectory(dir.resolve("llama3"))));
        qwen3Template = ChatTemplate.of(resource("/chat-templates/qwen3.jinja"), QWEN3_TOKENS);
        llama3Template = ChatTemplate.of(resource("/chat-templates/llama-3.1.jinja"), LLAMA3_TOKENS);
        qwen3Encoder = new ChatEncoder(qwen3Template, qwen3);
        llama3Encoder = new ChatEncoder(llama3Template, llama3);
    }

    @AfterAll
    static void close() {
        qwen3.close();
        llama3.close();
    }

    @Test
    void qwen3TrainsEachAssistantTurnWithItsEndOfTurnAndNothingElse() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "system", "content": "You are a geography tutor."},
                  {"role": "user", "content": "What is the capital of France?"},
                  {"role": "assistant", "content": "Paris is the capital of France."},
                  {"role": "user", "content": "How many people live there?"},
                  {"role": "assistant", "content": "About 2.1 million people live in Paris."}]}""");

        TokenizedExample encoded = qwen3Encoder.encode(example, 4096);

        // The first turn is found by search (Qwen3 drops the empty <think> block of turns before the
        // last question); the last turn is the template's own rendering of the final answer.
        assertEquals(List.of("Paris is the capital of France.<|im_end|>\n",
                "<think>\n\n</think>\n\nAbout 2.1 million people live in Paris.<|im_end|>\n"), trainedTexts(encoded, qwen3));
        assertArrayEquals(qwen3.encode(render(qwen3Template, example)), encoded.ids());
        assertFalse(encoded.truncated());
        assertLabelsAreIdsOrIgnored(encoded);
        String untrained = untrainedText(encoded, qwen3);
        assertTrue(untrained.contains("You are a geography tutor.") && untrained.contains("How many people live there?"), untrained);
    }

    @Test
    void weightZeroLeavesATurnOutOfTheLoss() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Say hi."},
                  {"role": "assistant", "content": "Hello there, friend!", "weight": 0},
                  {"role": "user", "content": "Again, shorter."},
                  {"role": "assistant", "content": "Hi.", "weight": 1}]}""");

        TokenizedExample encoded = qwen3Encoder.encode(example, 4096);

        assertEquals(List.of("<think>\n\n</think>\n\nHi.<|im_end|>\n"), trainedTexts(encoded, qwen3));
        assertTrue(untrainedText(encoded, qwen3).contains("Hello there, friend!<|im_end|>"));
    }

    @Test
    void qwen3ToolCallsAndResultsTrainOnlyTheAssistantsCallsAndAnswer() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                  {"role": "tool", "content": "{\\"sky\\": \\"sunny\\"}"},
                  {"role": "assistant", "content": "It is sunny in Paris."}],
                 "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}""");

        TokenizedExample encoded = qwen3Encoder.encode(example, 4096);

        assertEquals(List.of(
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n",
                "<think>\n\n</think>\n\nIt is sunny in Paris.<|im_end|>\n"), trainedTexts(encoded, qwen3));
        assertArrayEquals(qwen3.encode(render(qwen3Template, example)), encoded.ids());
        assertTrue(untrainedText(encoded, qwen3).contains("<tool_response>\n{\"sky\": \"sunny\"}\n</tool_response>"));
    }

    @Test
    void qwen3ReasoningOfEarlierTurnsIsDroppedAndOfTheLastTurnTrained() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Hi!"},
                  {"role": "assistant", "content": "<think>\\nA greeting.\\n</think>\\n\\nHello!"},
                  {"role": "user", "content": "2+2?"},
                  {"role": "assistant", "content": "<think>\\nSimple sum.\\n</think>\\n\\n4"}]}""");

        TokenizedExample encoded = qwen3Encoder.encode(example, 4096);

        assertEquals(List.of("Hello!<|im_end|>\n", "<think>\nSimple sum.\n</think>\n\n4<|im_end|>\n"),
                trainedTexts(encoded, qwen3));
        assertFalse(qwen3.decode(encoded.ids(), false).contains("A greeting."));
    }

    @Test
    void llama31TrainsContentAndEotWithExactlyOneBos() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "system", "content": "Answer briefly."},
                  {"role": "user", "content": "Capital of Italy?"},
                  {"role": "assistant", "content": "  Rome.  "},
                  {"role": "user", "content": "And of Spain?"},
                  {"role": "assistant", "content": "Madrid."}]}""");
        int bos = llama3.bosTokenId().getAsInt();

        TokenizedExample encoded = llama3Encoder.encode(example, 4096);

        assertTrue(llama3.addBosToken(), "the test tokenizer adds BOS, as Llama 3's does");
        assertEquals(List.of("Rome.<|eot_id|>", "Madrid.<|eot_id|>"), trainedTexts(encoded, llama3));
        assertEquals(bos, encoded.ids()[0]);
        assertEquals(1, Arrays.stream(encoded.ids()).filter(id -> id == bos).count());
        assertArrayEquals(llama3.encode(render(llama3Template, example)), encoded.ids());
        assertTrue(untrainedText(encoded, llama3).contains("Capital of Italy?"));
    }

    @Test
    void promptIdsForGenerationEndWhereTheTrainedAnswerBegins() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Capital of Italy?"}, {"role": "assistant", "content": "Rome."}]}""");
        List<Map<String, Object>> question = example.messages().subList(0, 1);
        for (ChatEncoder encoder : List.of(qwen3Encoder, llama3Encoder)) {
            TokenizedExample encoded = encoder.encode(example, 4096);
            int[] prompt = encoder.encodePrompt(question, null);
            int firstTrained = firstTrained(encoded);

            assertArrayEquals(Arrays.copyOf(encoded.ids(), firstTrained), prompt);
        }
        int[] llamaPrompt = llama3Encoder.encodePrompt(question, null);
        assertEquals(1, Arrays.stream(llamaPrompt).filter(id -> id == llama3.bosTokenId().getAsInt()).count());
    }

    @Test
    void aContentStartingWithNewlinesWidensTheSpanOverTheTokenItSharesWithTheHeader() {
        ChatEncoder chatml = new ChatEncoder(ChatTemplate.chatml(QWEN3_TOKENS), qwen3);
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "\\n\\nHello"}]}""");

        TokenizedExample encoded = chatml.encode(example, 4096);

        // "assistant\\n" + "\\n\\nHello" tokenizes with one "\\n\\n\\n" token across the boundary.
        assertEquals(List.of("\n\n\nHello<|im_end|>\n"), trainedTexts(encoded, qwen3));
        assertArrayEquals(qwen3.encode(render(ChatTemplate.chatml(QWEN3_TOKENS), example)), encoded.ids());
    }

    @Test
    void generatedModelsChatmlTemplateAndTokenizer() {
        Path model = dir.resolve("tiny");
        GeneratedModel.write(model, ModelPreset.TINY, 1, DType.F32);
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(model)) {
            ChatEncoder encoder = new ChatEncoder(ChatTemplate.fromModelDir(model), tokenizer);
            Example example = DatasetTest.example("""
                    {"messages": [{"role": "user", "content": "Tell me a story."},
                      {"role": "assistant", "content": "Once upon a time."},
                      {"role": "user", "content": "More."}, {"role": "assistant", "content": "The end."}]}""");

            TokenizedExample encoded = encoder.encode(example, 4096);

            assertEquals(List.of("Once upon a time.<|im_end|>\n", "The end.<|im_end|>\n"), trainedTexts(encoded, tokenizer));
        }
    }

    @Test
    void aTokenizerThatAddsBosGetsItOnceWhenTheTemplateDoesNotRenderIt() throws IOException {
        Path llama2 = dir.resolve("llama2-style");
        Files.createDirectories(llama2);
        for (String name : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.writeString(llama2.resolve(name), resource("/tokenizers/llama2-style/" + name));
        }
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(llama2)) {
            ChatEncoder encoder = new ChatEncoder(ChatTemplate.chatml(Map.of("bos_token", "<s>", "eos_token", "</s>")), tokenizer);
            Example example = DatasetTest.example("""
                    {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hello world"},
                      {"role": "assistant", "content": "Hello world</s>"}]}""");

            TokenizedExample encoded = encoder.encode(example, 4096);

            int bos = tokenizer.bosTokenId().getAsInt();
            assertEquals(bos, encoded.ids()[0]);
            assertEquals(1, Arrays.stream(encoded.ids()).filter(id -> id == bos).count());
            assertEquals(ChatEncoder.IGNORE, encoded.labels()[0]);
            // ChatML's markers are plain text to this tokenizer, so the content ends with its EOS to
            // pass the end-of-turn check; the space is the "▁" its normalizer puts after a special token.
            assertEquals(List.of("Hello world</s> <|im_end|>\n"), trainedTexts(encoded, tokenizer));
        }
    }

    @Test
    void completionTrainsTheCompletionAndEosOnly() {
        Example example = DatasetTest.example("{\"prompt\": \"Translate to French: Hello\\n\", \"completion\": \"Bonjour\"}");

        TokenizedExample encoded = qwen3Encoder.encode(example, 4096);

        int[] prompt = qwen3.encode("Translate to French: Hello\n");
        int[] completion = qwen3.encode("Bonjour");
        assertArrayEquals(concat(prompt, completion, new int[] {qwen3.eosTokenId().getAsInt()}), encoded.ids());
        assertEquals(List.of("Bonjour<|im_end|>"), trainedTexts(encoded, qwen3));
        assertArrayEquals(prompt, qwen3Encoder.encodePromptText("Translate to French: Hello\n"));
    }

    @Test
    void completionWithATokenizerThatAddsBosStartsWithBosAndMatchesThePromptEncoding() {
        Example example = DatasetTest.example("{\"prompt\": \"Q: 2+2?\\nA:\", \"completion\": \" 4\"}");

        TokenizedExample encoded = llama3Encoder.encode(example, 4096);

        int[] prompt = llama3Encoder.encodePromptText("Q: 2+2?\nA:");
        assertEquals(llama3.bosTokenId().getAsInt(), prompt[0]);
        assertArrayEquals(prompt, Arrays.copyOf(encoded.ids(), prompt.length));
        assertEquals(List.of(" 4<|eot_id|>"), trainedTexts(encoded, llama3));
    }

    @Test
    void textTrainsEveryTokenThatAPositionPredictsAndEos() {
        Example example = DatasetTest.example("{\"text\": \"The quick brown fox.\"}");

        TokenizedExample qwen = qwen3Encoder.encode(example, 4096);
        TokenizedExample llama = llama3Encoder.encode(example, 4096);

        int[] text = qwen3.encode("The quick brown fox.");
        assertArrayEquals(concat(text, new int[] {qwen3.eosTokenId().getAsInt()}), qwen.ids());
        assertEquals(ChatEncoder.IGNORE, qwen.labels()[0]); // nothing precedes the first token
        assertEquals(List.of(qwen3.decode(Arrays.copyOfRange(qwen.ids(), 1, qwen.ids().length), false)), trainedTexts(qwen, qwen3));
        assertEquals(text.length, qwen.trainedTokens());
        assertEquals(llama3.bosTokenId().getAsInt(), llama.ids()[0]);
        assertEquals(List.of("The quick brown fox.<|eot_id|>"), trainedTexts(llama, llama3));
    }

    @Test
    void truncationCutsFromTheRightAndMayLeaveNothingToTrain() {
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Name three colours."},
                  {"role": "assistant", "content": "Red, green and blue."}]}""");
        TokenizedExample full = qwen3Encoder.encode(example, 4096);
        int firstTrained = firstTrained(full);

        TokenizedExample exact = qwen3Encoder.encode(example, full.ids().length);
        TokenizedExample cut = qwen3Encoder.encode(example, full.ids().length - 3);
        TokenizedExample promptOnly = qwen3Encoder.encode(example, firstTrained);

        assertFalse(exact.truncated());
        assertEquals(full, exact);
        assertTrue(cut.truncated());
        assertArrayEquals(Arrays.copyOf(full.ids(), full.ids().length - 3), cut.ids());
        assertArrayEquals(Arrays.copyOf(full.labels(), full.ids().length - 3), cut.labels());
        assertEquals(full.trainedTokens() - 3, cut.trainedTokens());
        assertTrue(promptOnly.truncated());
        assertEquals(0, promptOnly.trainedTokens());
        assertEquals(firstTrained, promptOnly.ids().length);
    }

    @Test
    void aTemplateWithoutAnEndOfTurnTokenIsCaught() {
        ChatTemplate plain = ChatTemplate.of("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
                + "{% if add_generation_prompt %}assistant: {% endif %}", QWEN3_TOKENS);
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}""");

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new ChatEncoder(plain, qwen3).encode(example, 4096));

        assertTrue(e.getMessage().contains("messages[1]"), e.getMessage());
    }

    @Test
    void aTemplateThatHidesEarlierTurnsIsRefusedWithTheLine() {
        ChatTemplate hiding = ChatTemplate.of("{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}"
                + "<|im_start|>assistant\n[earlier answer]<|im_end|>\n{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                + "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}", QWEN3_TOKENS);
        Example example = DatasetTest.example("""
                {"messages": [{"role": "user", "content": "A?"}, {"role": "assistant", "content": "Answer A."},
                  {"role": "user", "content": "B?"}, {"role": "assistant", "content": "Answer B."}]}""");

        TailorException e = assertThrows(TailorException.class, () -> new ChatEncoder(hiding, qwen3).encode(example, 4096));

        assertTrue(e.getMessage().startsWith("example at line 1: ") && e.getMessage().contains("messages[1]"), e.getMessage());
    }

    // --- helpers ---

    static String render(ChatTemplate template, Example example) {
        return template.render(example.messages(), example.tools(), false, null);
    }

    /** The decoded runs of consecutive trained tokens, in order. */
    static List<String> trainedTexts(TokenizedExample example, Tokenizer tokenizer) {
        List<String> runs = new ArrayList<>();
        int[] labels = example.labels();
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] == ChatEncoder.IGNORE) {
                continue;
            }
            int start = i;
            while (i < labels.length && labels[i] != ChatEncoder.IGNORE) {
                i++;
            }
            runs.add(tokenizer.decode(Arrays.copyOfRange(labels, start, i), false));
        }
        return runs;
    }

    static String untrainedText(TokenizedExample example, Tokenizer tokenizer) {
        int[] ids = new int[example.ids().length];
        int n = 0;
        for (int i = 0; i < ids.length; i++) {
            if (example.labels()[i] == ChatEncoder.IGNORE) {
                ids[n++] = example.ids()[i];
            }
        }
        return tokenizer.decode(Arrays.copyOf(ids, n), false);
    }

    static int firstTrained(TokenizedExample example) {
        for (int i = 0; i < example.labels().length; i++) {
            if (example.labels()[i] != ChatEncoder.IGNORE) {
                return i;
            }
        }
        return -1;
    }

    static void assertLabelsAreIdsOrIgnored(TokenizedExample example) {
        for (int i = 0; i < example.ids().length; i++) {
            int label = example.labels()[i];
            assertTrue(label == ChatEncoder.IGNORE || label == example.ids()[i], "label " + i);
        }
    }

    static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    static String resource(String name) {
        try (InputStream in = ChatEncoderTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The real Qwen3 tokenizer.json (stored gzipped) and tokenizer_config.json, written into dir. */
    static Path unpackQwen3(Path dir) throws IOException {
        try (InputStream json = new GZIPInputStream(ChatEncoderTest.class.getResourceAsStream("/tokenizers/qwen3/tokenizer.json.gz"));
                InputStream config = ChatEncoderTest.class.getResourceAsStream("/tokenizers/qwen3/tokenizer_config.json")) {
            Files.copy(json, dir.resolve("tokenizer.json"));
            Files.copy(config, dir.resolve("tokenizer_config.json"));
        }
        return dir;
    }

    /**
     * The Qwen3 vocabulary plus Llama 3's BOS, header and end-of-turn tokens as special added
     * tokens (ids after Qwen3's last), with Llama 3's special-token settings: BOS added to text.
     */
    static Path llama3Style(Path dir) throws IOException {
        ObjectNode tokenizer;
        try (InputStream json = new GZIPInputStream(ChatEncoderTest.class.getResourceAsStream("/tokenizers/qwen3/tokenizer.json.gz"))) {
            tokenizer = (ObjectNode) Json.MAPPER.readTree(json);
        }
        ArrayNode added = (ArrayNode) tokenizer.get("added_tokens");
        int id = 151669;
        for (String token : List.of("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")) {
            added.addObject().put("id", id++).put("content", token).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", true);
        }
        Files.writeString(dir.resolve("tokenizer.json"), Json.MAPPER.writeValueAsString(tokenizer));
        Files.writeString(dir.resolve("tokenizer_config.json"), Json.MAPPER.writeValueAsString(Map.of(
                "bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>", "add_bos_token", true)));
        return dir;
    }
}
