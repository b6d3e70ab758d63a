package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused element-wise kernels against the same computed in Java doubles (within one rounding of
 * the dtype) and against libtorch's op sequence they replace: in bf16 equal bit for bit on nearly
 * every element (the kernels sum in another order, so a value at a rounding tie may land one step
 * away), which a missing intermediate rounding would break; in fp32 within its last digits. Sizes are not multiples of the kernel's 16
 * lanes; enough rows (50) that they are split across threads.
 */
class FusedElementwiseTest {
    static final int ROWS = 50;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @ParameterizedTest
    @CsvSource({"BF16, 200", "F32, 200", "BF16, 7"})
    void rmsNormMatchesTransformers(DType dtype, int n) {
        Random random = new Random(n);
        double eps = 1e-6;
        try (PointerScope scope = new PointerScope()) {
            Tensor x = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * n, 3), ROWS, 1, n).to(dtype.scalarType());
            Tensor w = Tensors.fromFloats(RandomArrays.gaussian(random, n, 1), n).to(dtype.scalarType());
            assertTrue(FusedElementwise.supportsRmsNorm(x, w));
            Tensor out = FusedElementwise.rmsNorm(x, w, eps);
            assertArrayEquals(Tensors.shape(x), Tensors.shape(out));
            float[] got = Tensors.toFloats(out.to(torch.ScalarType.Float));
            float[] xs = Tensors.toFloats(x.to(torch.ScalarType.Float));
            float[] ws = Tensors.toFloats(w.to(torch.ScalarType.Float));
            for (int r = 0; r < ROWS; r++) {
                double sum = 0;
                for (int i = 0; i < n; i++) {
                    sum += (double) xs[r * n + i] * xs[r * n + i];
                }
                double scale = 1 / Math.sqrt(sum / n + eps);
                for (int i = 0; i < n; i++) {
                    double expected = ws[i] * xs[r * n + i] * scale;
                    assertEquals(expected, got[r * n + i], tolerance(dtype, expected), "row " + r + " entry " + i);
                }
            }
            Tensor xf = x.to(torch.ScalarType.Float);
            Tensor variance = xf.mul(xf).mean(new long[] {-1}, true, new ScalarTypeOptional());
            Tensor libtorch = xf.mul(variance.add(Tensors.scalar(eps)).rsqrt()).to(x.scalar_type()).mul(w);
            assertMostlyIdentical(libtorch, out);
        }
    }

    /** gate and up as the two halves of a fused product's output [rows, 1, 2n]: strided rows. */
    @ParameterizedTest
    @CsvSource({"BF16, 300", "F32, 300", "BF16, 5"})
    void siluMulMatchesDoubles(DType dtype, int n) {
        Random random = new Random(n + 1);
        try (PointerScope scope = new PointerScope()) {
            float[] values = RandomArrays.gaussian(random, ROWS * 2 * n, 4);
            values[0] = -120; // exp(120) overflows: silu is -0
            values[1] = 95;
            Tensor fused = Tensors.fromFloats(values, ROWS, 1, 2 * n).to(dtype.scalarType());
            Tensor gate = fused.narrow(-1, 0, n);
            Tensor up = fused.narrow(-1, n, n);
            assertTrue(FusedElementwise.supportsSiluMul(gate, up));
            Tensor out = FusedElementwise.siluMul(gate, up);
            assertArrayEquals(Tensors.shape(gate), Tensors.shape(out));
            float[] got = Tensors.toFloats(out.to(torch.ScalarType.Float));
            float[] g = Tensors.toFloats(gate.contiguous().to(torch.ScalarType.Float));
            float[] u = Tensors.toFloats(up.contiguous().to(torch.ScalarType.Float));
            for (int i = 0; i < got.length; i++) {
                double expected = g[i] / (1 + Math.exp(-g[i])) * u[i];
                assertEquals(expected, got[i], tolerance(dtype, expected) + 1e-30, "entry " + i);
            }
            assertMostlyIdentical(torch.silu(gate).mul(up), out);
        }
    }

    /**
     * q as the transposed view of a projection's output [B, T, width] (as a layer takes it), head_dim
     * 40 (halves of 20: the kernel's tails), cos/sin for every batch row or one table for all, and
     * the decoding shape (T = 1, B rows). bf16: the same bits as libtorch's 6 ops (each element
     * sees the same roundings in the same order).
     */
    @ParameterizedTest
    @CsvSource({"BF16, 2, 7, true", "F32, 2, 7, true", "BF16, 3, 7, false", "BF16, 6, 1, true", "F32, 6, 1, true"})
    void rotaryMatchesTransformers(DType dtype, int batch, int positions, boolean tablePerRow) {
        int heads = 3;
        int d = 40;
        Random random = new Random(batch * 31L + positions);
        try (PointerScope scope = new PointerScope()) {
            int width = heads * d + 24; // the projection also holds other heads' columns
            Tensor projected = Tensors.fromFloats(RandomArrays.gaussian(random, batch * positions * width, 2), batch, positions, width)
                    .to(dtype.scalarType());
            Tensor x = projected.narrow(2, 8, heads * d).view(batch, positions, heads, d).transpose(1, 2);
            int tables = tablePerRow ? batch : 1;
            float[] angles = RandomArrays.gaussian(random, tables * positions * d, 3);
            float[] c = new float[angles.length];
            float[] sn = new float[angles.length];
            for (int i = 0; i < angles.length; i++) {
                c[i] = (float) Math.cos(angles[i]);
                sn[i] = (float) Math.sin(angles[i]);
            }
            Tensor cos = Tensors.fromFloats(c, tables, 1, positions, d).to(dtype.scalarType());
            Tensor sin = Tensors.fromFloats(sn, tables, 1, positions, d).to(dtype.scalarType());
            assertTrue(FusedElementwise.supportsRotary(x, cos, sin));
            Tensor out = FusedElementwise.rotary(x, cos, sin);
            assertArrayEquals(Tensors.shape(x), Tensors.shape(out));
            float[] got = Tensors.toFloats(out.contiguous().to(torch.ScalarType.Float));
            float[] xs = Tensors.toFloats(x.contiguous().to(torch.ScalarType.Float));
            float[] cs = Tensors.toFloats(cos.to(torch.ScalarType.Float));
            float[] ss = Tensors.toFloats(sin.to(torch.ScalarType.Float));
            int half = d / 2;
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    for (int t = 0; t < positions; t++) {
                        int row = ((b * heads + h) * positions + t) * d;
                        int table = ((tablePerRow ? b : 0) * positions + t) * d;
                        for (int i = 0; i < d; i++) {
                            double rotated = i < half ? -xs[row + i + half] : xs[row + i - half];
                            double expected = xs[row + i] * cs[table + i] + rotated * ss[table + i];
                            double scale = Math.abs(xs[row + i] * cs[table + i]) + Math.abs(rotated * ss[table + i]);
                            assertEquals(expected, got[row + i], tolerance(dtype, scale) * 1.5 + 1e-30, "entry " + (row + i));
                        }
                    }
                }
            }
            Tensor rotatedHalf = Tensors.cat(3, x.narrow(3, half, half).neg(), x.narrow(3, 0, half));
            assertMostlyIdentical(x.mul(cos).add(rotatedHalf.mul(sin)), out);
        }
    }

    @Test
    void leavesGradientsAndMixedTypesToLibtorch() {
        try (PointerScope scope = new PointerScope()) {
            Tensor x = torch.randn(4, 8);
            Tensor w = torch.ones(8);
            assertTrue(FusedElementwise.supportsRmsNorm(x, w));
            assertFalse(FusedElementwise.supportsRmsNorm(x, w.to(torch.ScalarType.BFloat16)));
            assertFalse(FusedElementwise.supportsRmsNorm(x, w.clone().requires_grad_(true)));
            assertFalse(FusedElementwise.supportsRmsNorm(x.t(), torch.ones(4)));
            assertFalse(FusedElementwise.supportsSiluMul(x, x.clone().requires_grad_(true)));
            assertFalse(FusedElementwise.supportsSiluMul(x, torch.randn(4, 9).narrow(1, 0, 8).t().t().view(4, 8).t()));
            assertFalse(FusedElementwise.supportsSiluMul(x.t(), x.t())); // entries not contiguous
            Tensor q = torch.randn(1, 2, 3, 8);
            Tensor table = torch.randn(1, 1, 3, 8);
            assertTrue(FusedElementwise.supportsRotary(q, table, table));
            assertFalse(FusedElementwise.supportsRotary(q.clone().requires_grad_(true), table, table));
            assertFalse(FusedElementwise.supportsRotary(q, table.to(torch.ScalarType.BFloat16), table));
            assertFalse(FusedElementwise.supportsRotary(torch.randn(1, 2, 3, 7), torch.randn(1, 1, 3, 7), torch.randn(1, 1, 3, 7)));
            assertTrue(FusedElementwise.supportsSiluMul(torch.randn(6, 20).narrow(1, 2, 8), x.repeat(new long[] {1, 1}).narrow(0, 0, 4)
                    .repeat(new long[] {2, 1}).narrow(0, 0, 6)));
        }
    }

    /** One rounding step of the dtype at the value (bf16: 8 bits of mantissa), plus fp32 slack. */
    private static double tolerance(DType dtype, double expected) {
        return Math.abs(expected) * (dtype == DType.BF16 ? 1.0 / 128 : 1e-5);
    }

    /** bf16: the same bits but at a few ties; fp32 (no rounding between the ops): within fp32's last digits. */
    private static void assertMostlyIdentical(Tensor expected, Tensor got) {
        boolean bf16 = Tensors.is(got, DType.BF16);
        float[] e = Tensors.toFloats(expected.contiguous().to(torch.ScalarType.Float));
        float[] g = Tensors.toFloats(got.to(torch.ScalarType.Float));
        int differ = 0;
        for (int i = 0; i < e.length; i++) {
            boolean same = bf16 ? Float.floatToIntBits(e[i]) == Float.floatToIntBits(g[i]) || e[i] == 0 && g[i] == 0
                    : Math.abs(e[i] - g[i]) <= 2e-6 * Math.abs(e[i]) + 1e-30;
            if (!same) {
                differ++;
            }
        }
        assertTrue(differ <= e.length / 200, differ + " of " + e.length + " entries differ from libtorch's");
    }
}
