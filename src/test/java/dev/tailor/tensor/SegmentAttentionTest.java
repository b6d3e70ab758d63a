package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The native kernel's forward and backward against libtorch's masked attention differentiated by
 * autograd (the fallback), and the forward against Java doubles: grouped-query heads (6 over 2), a
 * head size that is not a multiple of 16, rows whose length is not a multiple of the kernel's blocks,
 * segments longer than a block of keys, one-token segments and padding.
 */
class SegmentAttentionTest {
    static final int ROWS = 2;
    static final int LENGTH = 45;
    static final int HEADS = 6;
    static final int KV_HEADS = 2;
    static final int D = 20;
    static final double SCALE = 1 / Math.sqrt(D);
    // row 0: examples of 5, 1 and 30 tokens, then 9 of padding; row 1: 40 tokens, then 5 of padding
    static final int[] IDS = ids(new int[] {5, 1, 30, -9}, new int[] {40, -5});

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @Test
    void segmentsFollowTheExamples() {
        SegmentAttention.Segments s = SegmentAttention.Segments.of(IDS, ROWS, LENGTH);
        assertEquals(0, s.first()[4]);
        assertEquals(4, s.last()[0]);
        assertEquals(5, s.first()[5]); // a one-token example attends to itself
        assertEquals(5, s.last()[5]);
        assertEquals(6, s.first()[35]);
        assertEquals(35, s.last()[6]);
        assertEquals(40, s.first()[40]); // padding attends to itself only
        assertEquals(40, s.last()[40]);
        assertEquals(0, s.first()[LENGTH + 39]);
        assertEquals(39, s.last()[LENGTH]);
        assertThrows(IllegalArgumentException.class, () -> new SegmentAttention.Segments(1, 3, new int[] {0, 0, 3}, new int[] {2, 2, 2}));
    }

    @ParameterizedTest
    @CsvSource({"false, 20", "true, 20", "true, 72"}) // head sizes: one 16-lane block and a rest; four blocks and a rest
    void nativeMatchesLibtorchForwardAndBackward(boolean bf16, int d) {
        SegmentAttention.Segments segments = SegmentAttention.Segments.of(IDS, ROWS, LENGTH);
        double scale = 1 / Math.sqrt(d);
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(3);
            torch.ScalarType type = bf16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float;
            // laid out as the decoder layer has them: q and k [rows, heads, length, d] over [rows, length, heads, d]
            // buffers, v a part of the fused q/k/v projection's output
            Tensor q = torch.randn(ROWS, LENGTH, HEADS, d).to(type).transpose(1, 2);
            Tensor k = torch.randn(ROWS, LENGTH, KV_HEADS, d).to(type).transpose(1, 2);
            Tensor fused = torch.randn(ROWS, LENGTH, (HEADS + 2 * KV_HEADS) * d).to(type);
            Tensor v = fused.narrow(2, (HEADS + KV_HEADS) * d, KV_HEADS * d).view(ROWS, LENGTH, KV_HEADS, d).transpose(1, 2);
            Tensor dout = torch.randn(ROWS, LENGTH, HEADS * d).to(type);
            assertTrue(v.stride(2) != k.stride(2));
            assertTrue(SegmentAttention.supports(q, k, v));
            SegmentAttention.Forward kernel = SegmentAttention.forward(q, k, v, segments, scale);
            Tensor[] grads = kernel.backward(dout);

            // the reference: fp32 libtorch on the same (rounded) values, through the fallback's autograd
            Tensor qf = q.to(torch.ScalarType.Float).transpose(1, 2).contiguous().transpose(1, 2);
            Tensor kf = k.to(torch.ScalarType.Float).contiguous();
            Tensor vf = v.to(torch.ScalarType.Float).contiguous();
            Tensor reference = referenceForward(qf, kf, vf, segments);
            double outTolerance = bf16 ? 1e-2 : 1e-5;
            assertClose(reference, kernel.out().to(torch.ScalarType.Float), outTolerance, "out");
            assertClose(javaDoubles(qf, kf, vf, segments), kernel.out().to(torch.ScalarType.Float), outTolerance, "out vs doubles");

            Tensor[] expected = referenceBackward(qf, kf, vf, segments, dout.to(torch.ScalarType.Float));
            String[] names = {"dq", "dk", "dv"};
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(Tensors.shape(expected[i]), Tensors.shape(grads[i]), names[i]);
                assertClose(expected[i], grads[i].to(torch.ScalarType.Float), bf16 ? 3e-2 : 1e-4, names[i]);
            }
        }
    }

    @Test
    void refusesAGradientOfAnotherShape() {
        SegmentAttention.Segments segments = SegmentAttention.Segments.of(IDS, ROWS, LENGTH);
        try (PointerScope scope = new PointerScope()) {
            Tensor q = torch.randn(ROWS, HEADS, LENGTH, D);
            Tensor kv = torch.randn(ROWS, KV_HEADS, LENGTH, D);
            SegmentAttention.Forward f = SegmentAttention.forward(q, kv, kv, segments, SCALE);
            assertThrows(IllegalArgumentException.class, () -> f.backward(torch.randn(ROWS, LENGTH, D)));
            assertThrows(IllegalArgumentException.class, () -> SegmentAttention.forward(q.narrow(2, 0, 10), kv, kv, segments, SCALE));
        }
    }

    /** libtorch's masked attention, as the fallback computes it. */
    private static Tensor referenceForward(Tensor q, Tensor k, Tensor v, SegmentAttention.Segments segments) {
        long d = q.size(3);
        Tensor attended = Tensors.attention(q, k, v, segments.mask(Device.CPU), (1 / Math.sqrt(d)));
        return attended.transpose(1, 2).reshape(ROWS, LENGTH, HEADS * d);
    }

    private static Tensor[] referenceBackward(Tensor q, Tensor k, Tensor v, SegmentAttention.Segments segments, Tensor dout) {
        Tensor[] leaves = {q.detach().requires_grad_(true), k.detach().requires_grad_(true), v.detach().requires_grad_(true)};
        Tensor out = referenceForward(leaves[0], leaves[1], leaves[2], segments);
        out.mul(dout).sum().backward();
        return new Tensor[] {leaves[0].grad(), leaves[1].grad(), leaves[2].grad()};
    }

    /** softmax(scale q.k) v over each query's keys first..t, in doubles. */
    private static Tensor javaDoubles(Tensor q, Tensor k, Tensor v, SegmentAttention.Segments segments) {
        int d = (int) q.size(3);
        float[] qa = Tensors.toFloats(q.contiguous());
        float[] ka = Tensors.toFloats(k.contiguous());
        float[] va = Tensors.toFloats(v.contiguous());
        float[] out = new float[ROWS * LENGTH * HEADS * d];
        int group = HEADS / KV_HEADS;
        for (int b = 0; b < ROWS; b++) {
            for (int h = 0; h < HEADS; h++) {
                int kvh = h / group;
                for (int t = 0; t < LENGTH; t++) {
                    int from = segments.first()[b * LENGTH + t];
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = from; j <= t; j++) {
                        double s = 0;
                        for (int c = 0; c < d; c++) {
                            s += (double) qa[((b * HEADS + h) * LENGTH + t) * d + c] * ka[((b * KV_HEADS + kvh) * LENGTH + j) * d + c];
                        }
                        p[j] = s * (1 / Math.sqrt(d));
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = from; j <= t; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int c = 0; c < d; c++) {
                        double o = 0;
                        for (int j = from; j <= t; j++) {
                            o += p[j] * va[((b * KV_HEADS + kvh) * LENGTH + j) * d + c];
                        }
                        out[((b * LENGTH + t) * HEADS + h) * d + c] = (float) (o / sum);
                    }
                }
            }
        }
        return Tensors.fromFloats(out, ROWS, LENGTH, HEADS * d);
    }

    private static void assertClose(Tensor expected, Tensor actual, double tolerance, String what) {
        double scale = expected.abs().max().item_double();
        double error = expected.sub(actual).abs().max().item_double();
        assertTrue(error <= tolerance * Math.max(1, scale), what + ": max error " + error + " (largest entry " + scale + ")");
    }

    /** Segment ids of rows given as example lengths (negative: that many padding tokens). */
    private static int[] ids(int[]... rows) {
        int[] ids = new int[ROWS * LENGTH];
        for (int b = 0; b < rows.length; b++) {
            int at = 0;
            int example = 0;
            for (int n : rows[b]) {
                int id = n > 0 ? ++example : 0;
                for (int i = 0; i < Math.abs(n); i++) {
                    ids[b * LENGTH + at++] = id;
                }
            }
            assertEquals(LENGTH, at);
        }
        return ids;
    }
}
