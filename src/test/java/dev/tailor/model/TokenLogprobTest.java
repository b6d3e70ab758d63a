package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.tensor.Tensors;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

/** Log-probabilities and top alternatives from logits, against log-softmax worked out by hand. */
class TokenLogprobTest {
    @Test
    void picksEachRowsTokenAndItsMostLikelyAlternatives() {
        double ln3 = Math.log(3);
        try (PointerScope scope = new PointerScope()) {
            var logits = Tensors.fromFloats(new float[] {1, 2, 3, 0, 0, 0, 0, (float) ln3}, 2, 4);
            List<TokenLogprob> got = TokenLogprob.pick(logits, new int[] {2, 0}, 2);

            double norm0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3) + 1);
            assertEquals(2, got.get(0).token());
            assertEquals(3 - norm0, got.get(0).logprob(), 1e-6);
            assertArrayEquals(new int[] {2, 1}, got.get(0).topTokens());
            assertArrayEquals(new double[] {3 - norm0, 2 - norm0}, got.get(0).topLogprobs(), 1e-6);

            // row 1: exp(ln 3) = 3 against three ones, so p = 1/2 for token 3 and 1/6 for each other
            assertEquals(-Math.log(6), got.get(1).logprob(), 1e-6);
            assertEquals(3, got.get(1).topTokens()[0]);
            assertEquals(-Math.log(2), got.get(1).topLogprobs()[0], 1e-6);
            assertEquals(-Math.log(6), got.get(1).topLogprobs()[1], 1e-6);
            assertTrue(got.get(1).topTokens()[1] < 3, "one of the tied tokens 0..2");

            TokenLogprob one = got.get(0).limit(1);
            assertArrayEquals(new int[] {2}, one.topTokens());
            assertEquals(got.get(0).logprob(), one.logprob());
            assertEquals(0, TokenLogprob.pick(logits, new int[] {1, 1}, 0).get(0).topTokens().length);
            assertEquals(4, TokenLogprob.pick(logits, new int[] {1, 1}, 20).get(1).topTokens().length, "at most the vocabulary");
            assertThrows(IllegalArgumentException.class, () -> TokenLogprob.pick(logits, new int[] {1}, 0));
        }
    }
}
