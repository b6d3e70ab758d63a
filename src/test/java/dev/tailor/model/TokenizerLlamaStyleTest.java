package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A hand-made tokenizer with Llama 2's layout (tokenizers/llama2-style/README.md): SentencePiece
 * spaces ("▁"), a decoder that strips the leading space, byte-fallback tokens, and BOS added by the
 * post-processor rather than by {@code add_bos_token}.
 */
class TokenizerLlamaStyleTest {
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() throws URISyntaxException {
        tokenizer = Tokenizer.fromModelDir(Path.of(TokenizerLlamaStyleTest.class.getResource("/tokenizers/llama2-style").toURI()));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void specialTokensGivenAsAddedTokenObjects() {
        assertEquals(Optional.of("<s>"), tokenizer.bosToken());
        assertEquals(OptionalInt.of(1), tokenizer.bosTokenId());
        assertEquals(OptionalInt.of(2), tokenizer.eosTokenId());
        assertEquals(OptionalInt.of(0), tokenizer.unkTokenId());
        assertEquals(OptionalInt.empty(), tokenizer.padTokenId());
    }

    @Test
    void bosIsAddedByHfBecauseThePostProcessorPrependsIt() {
        assertTrue(tokenizer.addBosToken());
    }

    @Test
    void encodeAddsNoBos() {
        int[] ids = tokenizer.encode("Hello world");
        assertArrayEquals(new int[] {tokenizer.tokenId("▁Hello").getAsInt(), tokenizer.tokenId("▁world").getAsInt()}, ids);
    }

    @Test
    void unknownCharactersFallBackToBytesAndRoundTrip() {
        String text = "Hello world € 🤖";
        int[] ids = tokenizer.encode(text);

        assertTrue(ids.length > 8, "expected byte-fallback tokens");
        assertEquals(text, tokenizer.decode(ids, false));
    }

    /**
     * Decoding "▁world" alone gives "world" (the decoder strips a leading space), so naive per-token
     * decoding would lose the spaces; the stream decoder keeps the previous chunk as context.
     */
    @Test
    void streamKeepsTheSpacesThatPerTokenDecodingLoses() {
        String text = "Hello world Hello € world";
        int[] ids = tokenizer.encode(text);
        Tokenizer.StreamDecoder stream = tokenizer.streamDecoder(true);
        List<String> pieces = new ArrayList<>();
        StringBuilder naive = new StringBuilder();
        for (int id : ids) {
            pieces.add(stream.accept(id));
            naive.append(tokenizer.decode(new int[] {id}, true));
        }

        assertEquals(text, String.join("", pieces) + stream.finish());
        assertTrue(pieces.contains(" world"), pieces.toString());
        assertTrue(pieces.contains("€"), "the three bytes of € come out as one piece: " + pieces);
        assertNotEquals(text, naive.toString(), "per-token decoding should lose spaces");
    }
}
