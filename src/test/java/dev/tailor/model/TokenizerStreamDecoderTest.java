package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Streaming decoding with the real Qwen3 byte-level tokenizer, whose tokens may end mid-character. */
class TokenizerStreamDecoderTest {
    private static final String REPLACEMENT = "\uFFFD";

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.fromModelDir(TokenizerQwen3Test.unpackQwen3(dir));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "Emoji: 😀🤖👍🏽🇩🇪👨‍👩‍👧‍👦 and 🏳️‍🌈!",
        "東京は日本の首都です。𠮷野家で牛丼を食べた。",
        "<|im_start|>assistant\nこんにちは 👋<|im_end|>",
        "plain ASCII, nothing to hold back",
    })
    void feedingIdsOneByOneReproducesTheFullDecode(String text) {
        int[] ids = tokenizer.encode(text);
        for (boolean skipSpecial : new boolean[] {false, true}) {
            Tokenizer.StreamDecoder stream = tokenizer.streamDecoder(skipSpecial);
            StringBuilder streamed = new StringBuilder();
            for (int id : ids) {
                String piece = stream.accept(id);
                assertFalse(piece.contains(REPLACEMENT), "emitted a partial character after id " + id);
                streamed.append(piece);
            }
            assertEquals("", stream.finish());
            assertEquals(tokenizer.decode(ids, skipSpecial), streamed.toString());
        }
    }

    /** The test above can fail: single tokens of this text decode to partial characters. */
    @Test
    void emojiTokensEndMidCharacter() {
        int[] ids = tokenizer.encode("🤖👨‍👩‍👧‍👦");
        assertTrue(Arrays.stream(ids).anyMatch(id -> tokenizer.decode(new int[] {id}, false).contains(REPLACEMENT)));
    }

    @Test
    void finishFlushesAHeldBackPartialCharacterAsAFullDecodeWould() {
        int[] ids = tokenizer.encode("👨‍👩‍👧‍👦");
        int end = 1;
        while (!tokenizer.decode(Arrays.copyOf(ids, end), false).endsWith(REPLACEMENT)) {
            end++;
        }
        int[] cutMidCharacter = Arrays.copyOf(ids, end);
        Tokenizer.StreamDecoder stream = tokenizer.streamDecoder(false);
        StringBuilder streamed = new StringBuilder();
        for (int id : cutMidCharacter) {
            streamed.append(stream.accept(id));
        }
        String rest = stream.finish();

        assertTrue(rest.endsWith(REPLACEMENT), rest);
        assertEquals(tokenizer.decode(cutMidCharacter, false), streamed + rest);
    }
}
