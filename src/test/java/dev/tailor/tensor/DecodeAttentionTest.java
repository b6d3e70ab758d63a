package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The decoding-step attention kernel against softmax(scale q k^T) v written out in Java doubles, on
 * keys and values that are a strided prefix of a larger cache (as a decoding step reads them), with
 * grouped-query heads and a different length per row.
 */
class DecodeAttentionTest {
    static final int ROWS = 3;
    static final int HEADS = 6;
    static final int KV_HEADS = 2;
    static final int CAPACITY = 50;
    static final int POSITIONS = 37;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    /** d 40: not a multiple of the kernel's 16 lanes; ranges of 1 (only the new token) up to all positions, one after padding. */
    @ParameterizedTest
    @CsvSource({"F32, 40", "BF16, 40", "F32, 64", "BF16, 64"})
    void matchesSoftmaxAttentionInDoubles(DType dtype, int d) {
        Random random = new Random(d + dtype.ordinal());
        int[] from = {0, 0, 5}; // row 2: after 5 positions of a left-padded prompt
        int[] to = {POSITIONS, 1, 20};
        double scale = 1 / Math.sqrt(d);
        try (PointerScope scope = new PointerScope()) {
            Tensor q = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * HEADS * d, 1), ROWS, HEADS, 1, d).to(dtype.scalarType());
            Tensor cacheK = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * KV_HEADS * CAPACITY * d, 1), ROWS, KV_HEADS, CAPACITY, d)
                    .to(dtype.scalarType());
            Tensor cacheV = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * KV_HEADS * CAPACITY * d, 1), ROWS, KV_HEADS, CAPACITY, d)
                    .to(dtype.scalarType());
            Tensor k = cacheK.narrow(2, 0, POSITIONS);
            Tensor v = cacheV.narrow(2, 0, POSITIONS);
            assertTrue(DecodeAttention.supports(q, k, v));
            Tensor out = DecodeAttention.attend(q, k, v, from, to, scale);
            assertArrayEquals(new long[] {ROWS, HEADS, 1, d}, Tensors.shape(out));
            assertEquals(q.scalar_type().value, out.scalar_type().value);
            float[] got = Tensors.toFloats(out);
            float[] qs = Tensors.toFloats(q);
            float[] ks = Tensors.toFloats(cacheK);
            float[] vs = Tensors.toFloats(cacheV);
            for (int r = 0; r < ROWS; r++) {
                for (int h = 0; h < HEADS; h++) {
                    int g = h / (HEADS / KV_HEADS);
                    double[] w = new double[to[r] - from[r]];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int i = 0; i < w.length; i++) {
                        for (int j = 0; j < d; j++) {
                            w[i] += (double) qs[(r * HEADS + h) * d + j] * ks[((r * KV_HEADS + g) * CAPACITY + from[r] + i) * d + j];
                        }
                        w[i] *= scale;
                        max = Math.max(max, w[i]);
                    }
                    double total = 0;
                    for (int i = 0; i < w.length; i++) {
                        w[i] = Math.exp(w[i] - max);
                        total += w[i];
                    }
                    for (int j = 0; j < d; j++) {
                        double want = 0;
                        for (int i = 0; i < w.length; i++) {
                            want += w[i] / total * vs[((r * KV_HEADS + g) * CAPACITY + from[r] + i) * d + j];
                        }
                        double tolerance = dtype == DType.BF16 ? Math.abs(want) * 0x1p-8 + 1e-6 : 1e-5;
                        assertEquals(want, got[(r * HEADS + h) * d + j], tolerance, "row " + r + " head " + h + " element " + j);
                    }
                }
            }
        }
    }

    @Test
    void refusesWhatItDoesNotCoverAndLengthsOutOfRange() {
        try (PointerScope scope = new PointerScope()) {
            Tensor q = Tensors.zeros(DType.F32, Device.CPU, 2, 4, 1, 8);
            Tensor k = Tensors.zeros(DType.F32, Device.CPU, 2, 2, 5, 8);
            assertTrue(DecodeAttention.supports(q, k, k));
            assertFalse(DecodeAttention.supports(Tensors.zeros(DType.F32, Device.CPU, 2, 4, 3, 8), k, k), "prompts: 3 queries per row");
            assertFalse(DecodeAttention.supports(Tensors.zeros(DType.F32, Device.CPU, 2, 3, 1, 8), k, k), "heads not a multiple of kv heads");
            assertFalse(DecodeAttention.supports(q.to(torch.ScalarType.BFloat16), k, k), "mixed dtypes");
            Tensor strided = Tensors.zeros(DType.F32, Device.CPU, 2, 2, 8, 5).transpose(2, 3);
            assertFalse(DecodeAttention.supports(q, strided, strided), "head_dim not contiguous");
            int[] zeros = {0, 0};
            assertThrows(IllegalArgumentException.class, () -> DecodeAttention.attend(q, k, k, zeros, new int[] {5, 6}, 1.0), "past the positions");
            assertThrows(IllegalArgumentException.class, () -> DecodeAttention.attend(q, k, k, zeros, new int[] {0, 1}, 1.0), "empty range");
            assertThrows(IllegalArgumentException.class, () -> DecodeAttention.attend(q, k, k, new int[] {3, 0}, new int[] {3, 1}, 1.0),
                    "empty range after padding");
            assertThrows(IllegalArgumentException.class, () -> DecodeAttention.attend(q, k, k, new int[] {0}, new int[] {1}, 1.0), "one row of two");
        }
    }
}
