package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The real Qwen3 tokenizer (test resources, see tokenizers/qwen3/README.md) through {@link Tokenizer}. */
class TokenizerQwen3Test {
    static final int IM_START = 151644;
    static final int IM_END = 151645;
    static final int END_OF_TEXT = 151643;
    /** The highest id of the file's added tokens (</think>). */
    static final int MAX_ID = 151668;

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;
    /** The file itself, read with Jackson, for facts independent of DJL. */
    static JsonNode file;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.fromModelDir(unpackQwen3(dir));
        file = Json.readTree(dir.resolve("tokenizer.json"));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** Writes the Qwen3 tokenizer.json (stored gzipped) and tokenizer_config.json into {@code dir}. */
    public static Path unpackQwen3(Path dir) {
        try (InputStream json = new GZIPInputStream(resource("tokenizer.json.gz"));
                InputStream config = resource("tokenizer_config.json")) {
            Files.copy(json, dir.resolve("tokenizer.json"));
            Files.copy(config, dir.resolve("tokenizer_config.json"));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static InputStream resource(String name) {
        return TokenizerQwen3Test.class.getResourceAsStream("/tokenizers/qwen3/" + name);
    }

    @Test
    void specialTokensHaveTheIdsOfTheVocabularyFile() {
        assertEquals(OptionalInt.of(IM_START), tokenizer.tokenId("<|im_start|>"));
        assertEquals(OptionalInt.of(IM_END), tokenizer.tokenId("<|im_end|>"));
        assertEquals(OptionalInt.of(END_OF_TEXT), tokenizer.tokenId("<|endoftext|>"));
        assertArrayEquals(new int[] {IM_START}, tokenizer.encode("<|im_start|>"));
        assertEquals("<|im_end|>", tokenizer.token(IM_END));
    }

    @Test
    void helloWorldEncodesToTheVocabIdsOfHelloAndSpaceWorld() {
        JsonNode vocab = file.path("model").path("vocab");
        int[] expected = {vocab.path("Hello").asInt(-1), vocab.path("Ġworld").asInt(-1)};

        assertArrayEquals(expected, tokenizer.encode("Hello world"));
        assertEquals("Ġworld", tokenizer.token(expected[1]));
        assertEquals(OptionalInt.of(expected[0]), tokenizer.tokenId("Hello"));
    }

    @Test
    void vocabSizeCountsTheAddedTokens() {
        assertEquals(MAX_ID + 1, tokenizer.vocabSize());
    }

    @Test
    void specialIdsAreTheAddedTokensMarkedSpecial() {
        Set<Integer> expected = new HashSet<>();
        for (JsonNode added : file.path("added_tokens")) {
            if (added.path("special").asBoolean()) {
                expected.add(added.path("id").asInt());
            }
        }
        assertEquals(expected, tokenizer.specialIds());
        assertTrue(expected.contains(IM_END));
        assertFalse(expected.contains(tokenizer.tokenId("<think>").getAsInt()), "<think> is not special in Qwen3");
    }

    @Test
    void specialTokensOfTheConfig() {
        assertEquals(Optional.empty(), tokenizer.bosToken());
        assertEquals(OptionalInt.empty(), tokenizer.bosTokenId());
        assertEquals(Optional.of("<|im_end|>"), tokenizer.eosToken());
        assertEquals(OptionalInt.of(IM_END), tokenizer.eosTokenId());
        assertEquals(Optional.of("<|endoftext|>"), tokenizer.padToken());
        assertEquals(OptionalInt.of(END_OF_TEXT), tokenizer.padTokenId());
        assertEquals(Optional.empty(), tokenizer.unkToken());
        assertFalse(tokenizer.addBosToken());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "Hello, world! How are you today?",
        "Grüße aus München: Äpfel, Öl und Übermut, süß und schön.",
        "東京は日本の首都です。ひらがなとカタカナ、漢字。",
        "Emoji: 😀 🤖 👍🏽 🇩🇪 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
        "   leading and trailing spaces   ",
        "line one\nline two\n\n\ttabbed\tcolumns\t\r\nwindows line\n",
        "",
    })
    void decodeOfEncodeIsIdentity(String text) {
        assertEquals(text, tokenizer.decode(tokenizer.encode(text), false));
    }

    @Test
    void specialTokenTextBecomesSingleIdsAndSkippingDropsThem() {
        int[] ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>");

        assertEquals(IM_START, ids[0]);
        assertEquals(IM_END, ids[ids.length - 1]);
        assertEquals("user\nHi", tokenizer.decode(ids, true));
    }

    @Test
    void longTextIsNotTruncated() {
        String text = longText();
        int[] ids = tokenizer.encode(text);

        assertTrue(ids.length > 2000, "expected far more than 512 tokens, got " + ids.length);
        assertEquals(text, tokenizer.decode(ids, false));
    }

    /** Why the options matter: DJL's defaults would cut the same text to 512 tokens. */
    @Test
    void djlDefaultsWouldTruncateTheLongText() throws IOException {
        try (HuggingFaceTokenizer defaults = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"))) {
            assertEquals(512, defaults.encode(longText()).getIds().length);
        }
    }

    private static String longText() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            text.append("Paragraph ").append(i).append(": the quick brown fox jumps over the lazy dog.\n");
        }
        return text.toString();
    }

    @Test
    void idsPastTheVocabularyHaveNoTextAndNegativeOnesAreRejectedBeforeNativeCode() {
        // a model's padded embedding rows (Qwen: 151,936 rows, 151,669 tokens) can be generated; HF's decode skips them
        assertEquals(tokenizer.decode(new int[] {IM_START}, false), tokenizer.decode(new int[] {IM_START, MAX_ID + 1, 151_935}, false));
        assertEquals("", tokenizer.streamDecoder(false).accept(MAX_ID + 1));
        TailorException negative = assertThrows(TailorException.class, () -> tokenizer.decode(new int[] {-1}, true));
        assertEquals("token id -1 is out of range for this vocabulary (0..151668)", negative.getMessage());
        assertThrows(TailorException.class, () -> tokenizer.token(-1));
        assertThrows(TailorException.class, () -> tokenizer.streamDecoder(false).accept(-1));
    }
}
