package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The generated tokenizer files, checked by loading them in HF's Rust tokenizers and against an independent BPE encoder. */
class ByteLevelBpeTokenizerWriterTest {
    private static final int VOCAB_SIZE = 512;
    private static final String TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";

    @TempDir
    static Path dir;
    static ByteLevelBpeTokenizerWriter.SpecialTokenIds ids;
    static Tokenizer tokenizer;
    static JsonNode json;

    @BeforeAll
    static void write() {
        ids = ByteLevelBpeTokenizerWriter.write(dir, VOCAB_SIZE, 4096, TEMPLATE);
        tokenizer = Tokenizer.fromModelDir(dir);
        json = Json.readTree(dir.resolve("tokenizer.json"));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void vocabularyHasExactlyTheRequestedSizeWithContiguousIds() {
        JsonNode vocab = json.path("model").path("vocab");
        boolean[] seen = new boolean[VOCAB_SIZE];
        vocab.fields().forEachRemaining(entry -> seen[entry.getValue().asInt()] = true);
        json.path("added_tokens").forEach(token -> seen[token.path("id").asInt()] = true);

        assertEquals(VOCAB_SIZE - 3, vocab.size());
        assertEquals(3, json.path("added_tokens").size());
        for (int id = 0; id < VOCAB_SIZE; id++) {
            assertTrue(seen[id], "no token with id " + id);
        }
        assertEquals(VOCAB_SIZE, tokenizer.vocabSize());
    }

    @Test
    void specialTokensAreSingleIdsRightAfterTheBpeVocabulary() {
        assertEquals(new ByteLevelBpeTokenizerWriter.SpecialTokenIds(509, 510, 511), ids);
        assertArrayEquals(new int[] {509}, tokenizer.encode("<|endoftext|>"));
        assertArrayEquals(new int[] {510}, tokenizer.encode("<|im_start|>"));
        assertArrayEquals(new int[] {511}, tokenizer.encode("<|im_end|>"));
        for (JsonNode token : json.path("added_tokens")) {
            assertTrue(token.path("special").asBoolean());
        }
        assertEquals(Set.of(509, 510, 511), tokenizer.specialIds());
        assertEquals(511, ids.eosTokenId());
        assertEquals(509, ids.padTokenId());
    }

    /** GPT-2's and Qwen's vocabularies give the single bytes these ids: "!" = 0, "\n" = 198, " " = 220. */
    @Test
    void byteTokensHaveGpt2Ids() {
        Map<Integer, String> bytes = gpt2BytesToUnicode();
        JsonNode vocab = json.path("model").path("vocab");
        for (int b = 0; b < 256; b++) {
            assertTrue(vocab.has(bytes.get(b)), "byte " + b + " missing");
        }
        assertEquals(0, vocab.path("!").asInt());
        assertEquals(198, vocab.path("Ċ").asInt());
        assertEquals(220, vocab.path("Ġ").asInt());
        assertEquals(255, vocab.path("Ń").asInt());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "The quick brown fox jumps over the lazy dog.",
        "Ελληνικά, русский, 中文, 日本語, עברית, العربية",
        "🤖 👨‍👩‍👧‍👦 🇩🇪",
        "\u0000\u0001\u001f\u007f control bytes \t\r\n",
        "  spaces   everywhere  ",
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    })
    void roundTripsAnyText(String text) {
        assertEquals(text, tokenizer.decode(tokenizer.encode(text), false));
    }

    @Test
    void roundTripsRandomUnicode() {
        Random random = new Random(42);
        for (int i = 0; i < 200; i++) {
            StringBuilder text = new StringBuilder();
            for (int n = random.nextInt(30); n > 0; n--) {
                int codePoint = random.nextInt(Character.MAX_CODE_POINT + 1);
                if (Character.getType(codePoint) != Character.SURROGATE) {
                    text.appendCodePoint(codePoint);
                }
            }
            int[] encoded = tokenizer.encode(text.toString());
            assertEquals(text.toString(), tokenizer.decode(encoded, false));
            assertTrue(Arrays.stream(encoded).allMatch(id -> id < ids.endOfText()));
        }
    }

    @Test
    void encodingAgreesWithAnIndependentMergeByRankEncoder() {
        String text = "The weather tomorrow: cloudy, with showers in the west; it'll reach 18 degrees.\n"
                + "Programmers don't rush -- they test each small piece of code.";

        assertEquals(referenceEncode(text), Arrays.stream(tokenizer.encode(text)).boxed().toList());
    }

    @Test
    void configNamesTheSpecialTokensAndTheTemplate() {
        JsonNode config = Json.readTree(dir.resolve("tokenizer_config.json"));

        assertTrue(config.path("bos_token").isNull());
        assertEquals("<|im_end|>", config.path("eos_token").asText());
        assertEquals("<|endoftext|>", config.path("pad_token").asText());
        assertEquals("PreTrainedTokenizerFast", config.path("tokenizer_class").asText());
        assertEquals(4096, config.path("model_max_length").asInt());
        assertEquals(TEMPLATE, config.path("chat_template").asText());
        assertEquals("<|im_start|>", config.path("added_tokens_decoder").path("510").path("content").asText());
        assertTrue(config.path("added_tokens_decoder").path("511").path("special").asBoolean());
        assertEquals(OptionalInt.of(511), tokenizer.eosTokenId());
        assertEquals(OptionalInt.of(509), tokenizer.padTokenId());
        assertFalse(tokenizer.addBosToken());
    }

    @Test
    void withoutTemplateThereIsNoChatTemplateField(@TempDir Path other) {
        ByteLevelBpeTokenizerWriter.write(other, VOCAB_SIZE, 4096, null);
        assertFalse(Json.readTree(other.resolve("tokenizer_config.json")).has("chat_template"));
    }

    @Test
    void sameArgumentsGiveIdenticalBytes(@TempDir Path other) throws IOException {
        ByteLevelBpeTokenizerWriter.write(other, VOCAB_SIZE, 4096, TEMPLATE);
        for (String file : List.of("tokenizer.json", "tokenizer_config.json")) {
            assertArrayEquals(Files.readAllBytes(dir.resolve(file)), Files.readAllBytes(other.resolve(file)), file);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {300, 4096})
    void supportsSmallAndLargeVocabularies(int size, @TempDir Path other) {
        ByteLevelBpeTokenizerWriter.write(other, size, 4096, null);
        try (Tokenizer small = Tokenizer.fromModelDir(other)) {
            assertEquals(size, small.vocabSize());
            assertArrayEquals(new int[] {size - 1}, small.encode("<|im_end|>"));
            assertEquals("Größe 🤖", small.decode(small.encode("Größe 🤖"), false));
        }
    }

    @Test
    void impossibleSizesAreUserErrors(@TempDir Path other) {
        assertTrue(assertThrows(TailorException.class, () -> ByteLevelBpeTokenizerWriter.write(other, 258, 4096, null))
                .getMessage().contains("at least 259"));
        assertTrue(assertThrows(TailorException.class, () -> ByteLevelBpeTokenizerWriter.write(other, 100_000, 4096, null))
                .getMessage().contains("is more than the bundled training text yields"));
    }

    /** Pre-split like Qwen2's regex (ASCII text only), spell bytes GPT-2 style, then apply the lowest-ranked merge until none applies. */
    private static List<Integer> referenceEncode(String text) {
        Map<Integer, String> bytes = gpt2BytesToUnicode();
        Map<String, Integer> ranks = new HashMap<>();
        JsonNode merges = json.path("model").path("merges");
        for (int rank = 0; rank < merges.size(); rank++) {
            ranks.put(merges.get(rank).get(0).asText() + " " + merges.get(rank).get(1).asText(), rank);
        }
        JsonNode vocab = json.path("model").path("vocab");
        Matcher words = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d|[^\\r\\n\\w]?[A-Za-z]+|\\d| ?[^\\s\\w]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
                .matcher(text);
        List<Integer> ids = new ArrayList<>();
        while (words.find()) {
            List<String> symbols = new ArrayList<>();
            for (byte b : words.group().getBytes(StandardCharsets.UTF_8)) {
                symbols.add(bytes.get(b & 0xFF));
            }
            while (true) {
                int best = -1;
                int bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < symbols.size(); i++) {
                    int rank = ranks.getOrDefault(symbols.get(i) + " " + symbols.get(i + 1), Integer.MAX_VALUE);
                    if (rank < bestRank) {
                        bestRank = rank;
                        best = i;
                    }
                }
                if (best < 0) {
                    break;
                }
                symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
            }
            symbols.forEach(symbol -> ids.add(vocab.path(symbol).asInt()));
        }
        return ids;
    }

    /** GPT-2's bytes_to_unicode, transcribed from openai/gpt-2 encoder.py. */
    private static Map<Integer, String> gpt2BytesToUnicode() {
        Map<Integer, String> map = new HashMap<>();
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map.put(b, String.valueOf((char) (printable ? b : 256 + n++)));
        }
        return map;
    }
}
