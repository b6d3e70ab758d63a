package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Generation with the tiny reference models: the KV-cache and left-padded batch paths against a
 * cache-free recomputation, stop tokens, max_tokens and the context limit, seeds, input checks,
 * and (with hand-built byte-level tokenizers) stop strings and streamed text.
 */
class GeneratorTest {
    static final Path CASES = Path.of("src/test/resources/reference-models");
    /** Cases computed in fp32 (F16 weights are upcast), where cached and cache-free logits agree to ~1e-6. */
    static final List<String> FP32_CASES = List.of("llama-gqa-f32", "qwen2-bias-tied-f32", "llama3-rope-headdim-f32",
            "mistral-f16", "llama-sharded-f32");
    /** Near-ties closer than this may legitimately flip between two fp32 evaluation orders. */
    static final double TIE = 1e-4;

    @BeforeAll
    static void threads() {
        Engine.ensureConfigured();
    }

    static Stream<String> fp32Cases() {
        return FP32_CASES.stream();
    }

    static Model load(String name) {
        return Model.load(CASES.resolve(name).resolve("model"), Device.CPU, null);
    }

    static int[] randomPrompt(long seed, int length, int vocab) {
        Random r = new Random(seed);
        return r.ints(length, 0, vocab).toArray();
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Next-token logits after {@code ids}, recomputed over the whole sequence without a cache or padding. */
    static float[] logitsWithoutCache(Model model, int[] ids) {
        try (PointerScope scope = new PointerScope()) {
            int t = ids.length;
            Tensor input = Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, t);
            Tensor positions = Tensors.arange(t, Device.CPU).view(1, t);
            Tensor hidden = model.hiddenStates(input, positions, AttentionMasks.causal(t, Device.CPU), null, t - 1);
            return Tensors.toFloats(model.logits(hidden.narrow(1, t - 1, 1)));
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * Asserts that each generated token is the argmax of the cache-free logits of everything before
     * it (prompt + earlier generated tokens); returns how many steps had a clear (non-tie) winner.
     */
    static int assertGreedyMatchesRecomputation(Model model, int[] prompt, int[] generated, String what) {
        int clear = 0;
        int[] context = prompt;
        for (int step = 0; step < generated.length; step++) {
            float[] logits = logitsWithoutCache(model, context);
            int want = argmax(logits);
            int got = generated[step];
            double gap = logits[want] - logits[got];
            assertTrue(got == want || gap < TIE, what + " step " + step + ": generated " + got + " but the cache-free argmax is "
                    + want + " (logit gap " + gap + ")");
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            if (sorted[sorted.length - 1] - sorted[sorted.length - 2] >= TIE) {
                clear++;
            }
            context = concat(context, new int[] {got});
        }
        return clear;
    }

    // ---- the KV cache and the padded batch against a cache-free recomputation ----

    @ParameterizedTest
    @MethodSource("fp32Cases")
    void greedyWithCacheEqualsCacheFreeRecomputationFor20Steps(String name) {
        try (Model model = load(name)) {
            int[] shortPrompt = randomPrompt(1, 3, model.vocabSize());
            int[] longPrompt = randomPrompt(2, 19, model.vocabSize());
            Generator generator = new Generator(model, null);
            SamplingParams greedy = SamplingParams.greedy(20, Set.of());

            Completion alone = generator.generate(shortPrompt, greedy, null);
            assertEquals(20, alone.tokenIds().length);
            int clear = assertGreedyMatchesRecomputation(model, shortPrompt, alone.tokenIds(), name + " alone");
            assertTrue(clear >= 15, name + ": only " + clear + " of 20 steps had a clear argmax");

            // the same through a left-padded batch: the short prompt gets 16 padding slots
            List<Completion> batch = generator.generate(List.of(shortPrompt, longPrompt), greedy, null);
            assertGreedyMatchesRecomputation(model, shortPrompt, batch.get(0).tokenIds(), name + " batch row 0");
            assertGreedyMatchesRecomputation(model, longPrompt, batch.get(1).tokenIds(), name + " batch row 1");
            assertArrayEquals(shortPrompt, batch.get(0).promptTokenIds());
        }
    }

    @ParameterizedTest
    @MethodSource("fp32Cases")
    void batchedGenerationEqualsEachPromptAlone(String name) {
        try (Model model = load(name)) {
            int v = model.vocabSize();
            List<int[]> prompts = List.of(randomPrompt(10, 7, v), randomPrompt(11, 1, v), randomPrompt(12, 30, v),
                    randomPrompt(13, 12, v));
            Generator generator = new Generator(model, null);
            for (SamplingParams params : List.of(SamplingParams.greedy(16, Set.of()),
                    SamplingParams.greedy(16, Set.of()).withTemperature(1.3).withSeed(99L))) {
                List<Completion> batch = generator.generate(prompts, params, null);
                assertEquals(prompts.size(), batch.size());
                for (int i = 0; i < prompts.size(); i++) {
                    Completion alone = generator.generate(prompts.get(i), params, null);
                    assertArrayEquals(alone.tokenIds(), batch.get(i).tokenIds(),
                            name + " prompt " + i + " (length " + prompts.get(i).length + "), temperature " + params.temperature());
                    assertEquals("length", batch.get(i).finishReason());
                }
            }
        }
    }

    // ---- how sequences end ----

    /** The index of the first token that did not occur earlier in {@code ids}, at or after {@code from}. */
    static int firstNewTokenIndex(int[] ids, int from) {
        Set<Integer> before = new HashSet<>();
        for (int i = 0; i < ids.length; i++) {
            if (i >= from && !before.contains(ids[i])) {
                return i;
            }
            before.add(ids[i]);
        }
        return -1;
    }

    static int indexOf(int[] ids, int id) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == id) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void aStopTokenEndsOnlyItsSequenceAndIsTheLastToken() {
        try (Model model = load("qwen2-bias-tied-f32")) {
            Generator generator = new Generator(model, null);
            int[] a = randomPrompt(20, 5, 128);
            int[] b = randomPrompt(21, 9, 128);
            int[] freeA = generator.generate(a, SamplingParams.greedy(24, Set.of()), null).tokenIds();
            int[] freeB = generator.generate(b, SamplingParams.greedy(24, Set.of()), null).tokenIds();
            int k = firstNewTokenIndex(freeA, 3);
            if (k < 0) {
                k = firstNewTokenIndex(freeA, 0);
            }
            int stop = freeA[k];

            List<Completion> got = generator.generate(List.of(a, b), SamplingParams.greedy(24, Set.of(stop)), null);
            assertArrayEquals(Arrays.copyOf(freeA, k + 1), got.get(0).tokenIds(), "ends right after the stop id " + stop);
            assertEquals("stop", got.get(0).finishReason());
            int kb = indexOf(freeB, stop);
            if (kb >= 0) {
                assertArrayEquals(Arrays.copyOf(freeB, kb + 1), got.get(1).tokenIds());
                assertEquals("stop", got.get(1).finishReason());
            } else {
                assertArrayEquals(freeB, got.get(1).tokenIds(), "the other sequence runs on, unaffected");
                assertEquals("length", got.get(1).finishReason());
            }
        }
    }

    @Test
    void maxTokensEndsWithLength() {
        try (Model model = load("llama-gqa-f32")) {
            Generator generator = new Generator(model, null);
            int[] prompt = randomPrompt(30, 6, model.vocabSize());
            int[] longer = generator.generate(prompt, SamplingParams.greedy(12, Set.of()), null).tokenIds();
            Completion seven = generator.generate(prompt, SamplingParams.greedy(7, Set.of()), null);
            assertArrayEquals(Arrays.copyOf(longer, 7), seven.tokenIds());
            assertEquals("length", seven.finishReason());
            Completion one = generator.generate(prompt, SamplingParams.greedy(1, Set.of()), null);
            assertArrayEquals(new int[] {longer[0]}, one.tokenIds());
            assertEquals("length", one.finishReason());
        }
    }

    /** A copy of a reference model whose config.json says max_position_embeddings = {@code context}. */
    static Path withContext(String name, int context, Path dir) throws IOException {
        Path source = CASES.resolve(name).resolve("model");
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        ObjectNode config = (ObjectNode) Json.readTree(dir.resolve("config.json"));
        config.put("max_position_embeddings", context);
        Files.writeString(dir.resolve("config.json"), Json.pretty(config));
        return dir;
    }

    @Test
    void generationStopsAtTheContextLimit(@TempDir Path dir) throws IOException {
        int[] prompt = randomPrompt(40, 9, 128);
        int[] unlimited;
        try (Model model = load("qwen2-bias-tied-f32")) {
            unlimited = new Generator(model, null).generate(prompt, SamplingParams.greedy(8, Set.of()), null).tokenIds();
        }
        try (Model model = Model.load(withContext("qwen2-bias-tied-f32", 12, dir), Device.CPU, null)) {
            Generator generator = new Generator(model, null);
            Completion c = generator.generate(prompt, SamplingParams.greedy(100, Set.of()), null);
            assertArrayEquals(Arrays.copyOf(unlimited, 3), c.tokenIds(), "9 prompt tokens + 3 fill the context of 12");
            assertEquals("length", c.finishReason());
            assertEquals(1, generator.generate(Arrays.copyOf(prompt, 11), SamplingParams.greedy(100, Set.of()), null)
                    .tokenIds().length);
        }
    }

    @Test
    void promptsThatFillOrExceedTheContextAreRejected(@TempDir Path dir) throws IOException {
        try (Model model = Model.load(withContext("qwen2-bias-tied-f32", 12, dir), Device.CPU, null)) {
            Generator generator = new Generator(model, null);
            SamplingParams params = SamplingParams.greedy(4, Set.of());
            TailorException full = assertThrows(TailorException.class,
                    () -> generator.generate(randomPrompt(1, 12, 128), params, null));
            assertTrue(full.getMessage().contains("12"), full.getMessage());
            TailorException over = assertThrows(TailorException.class,
                    () -> generator.generate(List.of(new int[] {1, 2}, randomPrompt(1, 13, 128)), params, null));
            assertTrue(over.getMessage().contains("13") && over.getMessage().contains("max_position_embeddings"), over.getMessage());
        }
    }

    @Test
    void outOfVocabularyAndEmptyPromptsAreRejected() {
        try (Model model = load("qwen2-bias-tied-f32")) {
            Generator generator = new Generator(model, null);
            SamplingParams params = SamplingParams.greedy(4, Set.of());
            // TailorException, not a native c10::Error from the embedding lookup: the check runs first
            TailorException high = assertThrows(TailorException.class,
                    () -> generator.generate(new int[] {5, 128, 7}, params, null));
            assertTrue(high.getMessage().contains("128"), high.getMessage());
            TailorException negative = assertThrows(TailorException.class,
                    () -> generator.generate(List.of(new int[] {5}, new int[] {3, -1}), params, null));
            assertTrue(negative.getMessage().contains("prompt 1") && negative.getMessage().contains("-1"), negative.getMessage());
            assertThrows(TailorException.class, () -> generator.generate(new int[0], params, null));
            // the model still works afterwards
            assertEquals(4, generator.generate(new int[] {5, 127, 7}, params, null).tokenIds().length);
        }
    }

    @Test
    void anEmptyBatchGivesNoCompletions() {
        try (Model model = load("qwen2-bias-tied-f32")) {
            assertEquals(List.of(), new Generator(model, null).generate(List.of(), SamplingParams.greedy(4, Set.of()), null));
        }
    }

    // ---- seeds ----

    @Test
    void seededSamplingIsReproducibleAndSeedsDiffer() {
        try (Model model = load("llama-gqa-f32")) {
            Generator generator = new Generator(model, null);
            int[] prompt = randomPrompt(50, 4, model.vocabSize());
            SamplingParams params = new SamplingParams(1.5, 0.98, 0, 0.0, 1.0, 11L, 20, List.of(), Set.of());
            int[] first = generator.generate(prompt, params, null).tokenIds();
            assertArrayEquals(first, generator.generate(prompt, params, null).tokenIds());
            assertNotEquals(Arrays.toString(first), Arrays.toString(generator.generate(prompt, params.withSeed(12L), null).tokenIds()));
            int[] greedy = generator.generate(prompt, SamplingParams.greedy(20, Set.of()), null).tokenIds();
            assertNotEquals(Arrays.toString(greedy), Arrays.toString(first), "temperature 1.5 should not just follow the argmax");
        }
    }

    // ---- text: stop strings and streaming, with hand-built byte-level tokenizers ----

    /** GPT-2's byte-to-unicode table, which byte-level BPE vocabularies are written in. */
    static String byteLevel(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        for (byte x : bytes) {
            int b = x & 0xff;
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            if (printable) {
                sb.append((char) b);
            } else {
                int n = 0;
                for (int c = 0; c < b; c++) {
                    if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) {
                        n++;
                    }
                }
                sb.append((char) (256 + n));
            }
        }
        return sb.toString();
    }

    /**
     * Writes a byte-level BPE tokenizer.json (no merges: only decoding matters here) whose ids
     * 0..125 decode to {@code pieces[id]} and 126/127 are the special tokens {@code <s>}/{@code </s>},
     * matching the 128-row vocabulary of qwen2-bias-tied-f32 (bos 126, eos 127).
     */
    static Tokenizer tokenizer(Path dir, byte[][] pieces) throws IOException {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < pieces.length; id++) {
            assertEquals(null, vocab.put(byteLevel(pieces[id]), id), "pieces must be distinct");
        }
        List<Map<String, Object>> added = new ArrayList<>();
        String[] specials = {"<s>", "</s>"};
        for (int i = 0; i < 2; i++) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", pieces.length + i);
            t.put("content", specials[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
        }
        Map<String, Object> byteLevel = Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", true);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", List.of());
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("version", "1.0");
        json.put("truncation", null);
        json.put("padding", null);
        json.put("added_tokens", added);
        json.put("normalizer", null);
        json.put("pre_tokenizer", byteLevel);
        json.put("post_processor", null);
        json.put("decoder", byteLevel);
        json.put("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), Json.compact(json));
        Tokenizer tokenizer = Tokenizer.fromModelDir(dir);
        assertEquals(128, tokenizer.vocabSize());
        return tokenizer;
    }

    /** Two ASCII letters per id: "aa", "ba", ..., so the text is the plain concatenation of the pieces. */
    static byte[][] letterPieces() {
        byte[][] pieces = new byte[126][];
        for (int id = 0; id < pieces.length; id++) {
            pieces[id] = new byte[] {(byte) ('a' + id % 26), (byte) ('a' + id / 26)};
        }
        return pieces;
    }

    /** The text of {@code ids} worked out here: the pieces' bytes concatenated (specials skipped), decoded as UTF-8. */
    static String expectedText(byte[][] pieces, int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < pieces.length) {
                bytes.writeBytes(pieces[id]);
            }
        }
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }

    /** Collects the streamed deltas of each sequence. */
    static final class Deltas implements Generator.Listener {
        final Map<Integer, List<String>> bySequence = new LinkedHashMap<>();

        @Override
        public void onText(int sequence, String delta) {
            assertFalse(delta.isEmpty(), "empty delta");
            bySequence.computeIfAbsent(sequence, s -> new ArrayList<>()).add(delta);
        }

        List<String> of(int sequence) {
            return bySequence.getOrDefault(sequence, List.of());
        }

        String joined(int sequence) {
            return String.join("", of(sequence));
        }
    }

    /** The smallest number of leading tokens whose text contains {@code stop}. */
    static int tokensUntil(byte[][] pieces, int[] ids, String stop) {
        for (int k = 1; k <= ids.length; k++) {
            if (expectedText(pieces, Arrays.copyOf(ids, k)).contains(stop)) {
                return k;
            }
        }
        return -1;
    }

    @Test
    void stopStringsEndTheTextAtTheEarliestMatchEvenAcrossTokens(@TempDir Path dir) throws IOException {
        byte[][] pieces = letterPieces();
        try (Model model = load("qwen2-bias-tied-f32"); Tokenizer tokenizer = tokenizer(dir, pieces)) {
            Generator generator = new Generator(model, tokenizer);
            int[] prompt = randomPrompt(60, 6, 126);
            SamplingParams params = SamplingParams.greedy(16, Set.of());
            Deltas freeDeltas = new Deltas();
            Completion free = generator.generate(prompt, params, freeDeltas);
            String text = expectedText(pieces, free.tokenIds());
            assertEquals(text, free.text());
            assertEquals(text, freeDeltas.joined(0));
            assertTrue(text.length() >= 20, text);

            // "stop" covers both letters of token 2 and the first of token 3; "later" lies further on
            String stop = text.substring(4, 7);
            String later = text.substring(20, 23);
            int cut = Math.min(text.indexOf(stop), text.indexOf(later));
            int tokens = Math.min(tokensUntil(pieces, free.tokenIds(), stop), tokensUntil(pieces, free.tokenIds(), later));

            Deltas deltas = new Deltas();
            Completion c = generator.generate(prompt, params.withStop(List.of(later, stop)), deltas);
            assertEquals(text.substring(0, cut), c.text());
            assertEquals("stop", c.finishReason());
            assertArrayEquals(Arrays.copyOf(free.tokenIds(), tokens), c.tokenIds(), "generation ends with the token that completes the stop string");
            assertEquals(c.text(), deltas.joined(0), "no part of the stop string is streamed");

            Completion never = generator.generate(prompt, params.withStop(List.of("#")), null);
            assertEquals(text, never.text());
            assertEquals("length", never.finishReason());
        }
    }

    @Test
    void aPossibleStopStringPrefixIsHeldBackThenFlushedAtTheEnd(@TempDir Path dir) throws IOException {
        byte[][] pieces = letterPieces();
        try (Model model = load("qwen2-bias-tied-f32"); Tokenizer tokenizer = tokenizer(dir, pieces)) {
            Generator generator = new Generator(model, tokenizer);
            int[] prompt = randomPrompt(61, 4, 126);
            SamplingParams params = SamplingParams.greedy(10, Set.of());
            String text = generator.generate(prompt, params, null).text();
            // the stop string starts with the text's last 3 letters but can never complete ('#' is no piece)
            String stop = text.substring(text.length() - 3) + "#";
            Deltas deltas = new Deltas();
            Completion c = generator.generate(prompt, params.withStop(List.of(stop)), deltas);
            assertEquals(text, c.text());
            assertEquals("length", c.finishReason());
            assertEquals(text, deltas.joined(0));
            List<String> d = deltas.of(0);
            String beforeLast = String.join("", d.subList(0, d.size() - 1));
            assertTrue(beforeLast.length() <= text.length() - 3, "the tail '" + stop.substring(0, 3)
                    + "' was streamed before the sequence ended: " + d);
        }
    }

    @Test
    void aStopTokenEndsTheTextWithoutItsOwnTextAndFlushesHeldBackText(@TempDir Path dir) throws IOException {
        byte[][] pieces = letterPieces();
        try (Model model = load("qwen2-bias-tied-f32"); Tokenizer tokenizer = tokenizer(dir, pieces)) {
            Generator generator = new Generator(model, tokenizer);
            int[] prompt = randomPrompt(62, 5, 126);
            int[] free = generator.generate(prompt, SamplingParams.greedy(16, Set.of()), null).tokenIds();
            int k = firstNewTokenIndex(free, 3);
            assertTrue(k > 0, Arrays.toString(free));
            String before = expectedText(pieces, Arrays.copyOf(free, k));
            // a stop string whose start is the text's tail when the stop token comes: held back until then
            String stop = before.substring(before.length() - 2) + "#";
            Deltas deltas = new Deltas();
            Completion c = generator.generate(prompt, SamplingParams.greedy(16, Set.of(free[k])).withStop(List.of(stop)), deltas);
            assertArrayEquals(Arrays.copyOf(free, k + 1), c.tokenIds());
            assertEquals("stop", c.finishReason());
            assertEquals(before, c.text());
            assertEquals(before, deltas.joined(0));
        }
    }

    /**
     * Every piece is [0xA9, letter, letter, 0xC3]: each token ends with the first byte of "é" (C3 A9)
     * and the next token completes it, so each token alone decodes to a text ending in U+FFFD.
     */
    static byte[][] splitCharacterPieces() {
        byte[][] pieces = new byte[126][];
        for (int id = 0; id < pieces.length; id++) {
            pieces[id] = new byte[] {(byte) 0xA9, (byte) ('a' + id % 26), (byte) ('a' + id / 26), (byte) 0xC3};
        }
        return pieces;
    }

    @Test
    void streamedDeltasNeverEndInAPartialCharacterAndConcatenateToTheText(@TempDir Path dir) throws IOException {
        byte[][] pieces = splitCharacterPieces();
        try (Model model = load("qwen2-bias-tied-f32"); Tokenizer tokenizer = tokenizer(dir, pieces)) {
            Generator generator = new Generator(model, tokenizer);
            List<int[]> prompts = List.of(randomPrompt(70, 3, 126), randomPrompt(71, 8, 126));
            for (SamplingParams params : List.of(SamplingParams.greedy(12, Set.of()),
                    SamplingParams.greedy(12, Set.of()).withTemperature(1.0).withSeed(5L))) {
                Deltas deltas = new Deltas();
                List<Completion> got = generator.generate(prompts, params, deltas);
                for (int i = 0; i < prompts.size(); i++) {
                    Completion c = got.get(i);
                    String want = expectedText(pieces, c.tokenIds());
                    assertEquals(want, c.text());
                    assertEquals(want, tokenizer.decode(c.tokenIds(), true));
                    assertEquals(want, deltas.joined(i), "sequence " + i);
                    int realTokens = (int) Arrays.stream(c.tokenIds()).filter(id -> id < pieces.length).count();
                    assertTrue(realTokens >= 3, "too few text tokens to test anything: " + Arrays.toString(c.tokenIds()));
                    assertTrue(want.chars().filter(ch -> ch == 'é').count() >= realTokens - 1,
                            "each token boundary should carry an 'é': " + want);
                    List<String> d = deltas.of(i);
                    for (int j = 0; j < d.size() - 1; j++) {
                        assertFalse(d.get(j).endsWith("\uFFFD"), "delta " + j + " of sequence " + i + " ends in half a character: " + d);
                    }
                }
            }
        }
    }

    @Test
    void stopStringsNeedATokenizer() {
        try (Model model = load("qwen2-bias-tied-f32")) {
            SamplingParams params = SamplingParams.greedy(4, Set.of()).withStop(List.of("x"));
            assertThrows(IllegalArgumentException.class, () -> new Generator(model, null).generate(new int[] {1}, params, null));
        }
    }
}
