package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Tensors.attention (SDPA for many queries, grouped matmuls for one) against attention written out in Java doubles. */
class AttentionTest {
    static final int B = 2;
    static final int HEADS = 6;
    static final int KV_HEADS = 2;
    static final int S = 5;
    static final int D = 4;

    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void groupedQueryAttentionWithMaskMatchesHandComputation(int queries) {
        Engine.ensureConfigured();
        Random random = new Random(queries);
        float[] q = randoms(random, B * HEADS * queries * D);
        float[] k = randoms(random, B * KV_HEADS * S * D);
        float[] v = randoms(random, B * KV_HEADS * S * D);
        boolean[][] allowed = new boolean[B][S * queries]; // [b][query * S + key]
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < queries; i++) {
                for (int j = 0; j < S; j++) {
                    allowed[b][i * S + j] = j <= S - queries + i && !(b == 1 && j == 0); // causal, row 1 has one pad key
                }
            }
        }
        double scale = 1 / Math.sqrt(D);
        try (PointerScope scope = new PointerScope()) {
            float[] mask = new float[B * queries * S];
            for (int b = 0; b < B; b++) {
                for (int x = 0; x < queries * S; x++) {
                    mask[b * queries * S + x] = allowed[b][x] ? 1 : 0;
                }
            }
            Tensor m = Tensors.fromFloats(mask, B, 1, queries, S).to(torch.ScalarType.Bool);
            float[] got = Tensors.toFloats(Tensors.attention(Tensors.fromFloats(q, B, HEADS, queries, D),
                    Tensors.fromFloats(k, B, KV_HEADS, S, D), Tensors.fromFloats(v, B, KV_HEADS, S, D), m, scale));
            for (int b = 0; b < B; b++) {
                for (int h = 0; h < HEADS; h++) {
                    int g = h / (HEADS / KV_HEADS);
                    for (int i = 0; i < queries; i++) {
                        double[] scores = new double[S];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < S; j++) {
                            double dot = 0;
                            for (int d = 0; d < D; d++) {
                                dot += q[((b * HEADS + h) * queries + i) * D + d] * k[((b * KV_HEADS + g) * S + j) * D + d];
                            }
                            scores[j] = allowed[b][i * S + j] ? dot * scale : Double.NEGATIVE_INFINITY;
                            max = Math.max(max, scores[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < S; j++) {
                            scores[j] = Math.exp(scores[j] - max);
                            sum += scores[j];
                        }
                        for (int d = 0; d < D; d++) {
                            double want = 0;
                            for (int j = 0; j < S; j++) {
                                want += scores[j] / sum * v[((b * KV_HEADS + g) * S + j) * D + d];
                            }
                            assertEquals(want, got[((b * HEADS + h) * queries + i) * D + d], 1e-5);
                        }
                    }
                }
            }
        }
    }

    private static float[] randoms(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }
}
