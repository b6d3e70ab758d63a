package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The hand-written backward passes of training's RMSNorm and silu(gate) * up (native kernels) against
 * autograd through the libtorch ops they replace, and against the derivatives computed in Java
 * doubles. Sizes are not multiples of the kernels' 16 lanes; 50 rows are split across threads.
 */
class TrainingElementwiseTest {
    static final int ROWS = 50;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @ParameterizedTest
    @CsvSource({"BF16, 200", "F32, 200", "F32, 7"})
    void rmsNormGradientsMatchAutogradAndDoubles(DType dtype, int n) {
        Random random = new Random(n);
        double eps = 1e-6;
        try (PointerScope scope = new PointerScope()) {
            float[] xs = RandomArrays.gaussian(random, ROWS * n, 3);
            float[] dys = RandomArrays.gaussian(random, ROWS * n, 1);
            Tensor x = Tensors.fromFloats(xs, ROWS, 1, n).to(dtype.scalarType());
            Tensor dy = Tensors.fromFloats(dys, ROWS, 1, n).to(dtype.scalarType());
            Tensor w = Tensors.fromFloats(RandomArrays.gaussian(random, n, 1), n).to(dtype.scalarType()).requires_grad_(true);
            assertTrue(FusedElementwise.rmsNormFits(x, w));

            TrainingRmsNorm.Forward kernel = TrainingRmsNorm.forward(x, w, eps);
            assertClose(TrainingRmsNorm.libtorch(x, w, eps).detach(), kernel.out(), dtype);
            Tensor dx = kernel.backward(dy);
            Tensor dw = w.grad().clone();
            w.grad().zero_();

            Tensor leaf = x.detach().requires_grad_(true);
            TrainingRmsNorm.libtorch(leaf, w, eps).backward(dy, new BoolOptional(), false, new TensorArrayRefOptional());
            assertClose(leaf.grad(), dx, dtype);
            assertClose(w.grad(), dw, dtype);

            // dx = r g - r^3 x sum(g x) / n with g = dy w (held in the dtype, as autograd's product holds it) and
            // r = 1 / rms(x), in doubles from the same (rounded) inputs
            float[] xr = Tensors.toFloats(x.to(torch.ScalarType.Float));
            float[] dyr = Tensors.toFloats(dy.to(torch.ScalarType.Float));
            float[] wr = Tensors.toFloats(w.detach().to(torch.ScalarType.Float));
            float[] got = Tensors.toFloats(dx.to(torch.ScalarType.Float));
            for (int r = 0; r < ROWS; r++) {
                double squares = 0;
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    squares += (double) xr[r * n + i] * xr[r * n + i];
                    dot += held(dyr[r * n + i] * wr[i], dtype) * xr[r * n + i];
                }
                double rstd = 1 / Math.sqrt(squares / n + eps);
                for (int i = 0; i < n; i++) {
                    double g = held(dyr[r * n + i] * wr[i], dtype);
                    double expected = rstd * g - rstd * rstd * rstd * xr[r * n + i] * dot / n;
                    double scale = rstd * (Math.abs(g) + rstd * rstd * Math.abs(xr[r * n + i] * dot) / n);
                    assertEquals(expected, got[r * n + i], scale * (dtype == DType.BF16 ? 2.0 / 128 : 1e-5) + 1e-6,
                            "row " + r + " entry " + i);
                }
            }
        }
    }

    @Test
    void rmsNormWithoutTheKernelGivesTheSameGradients() {
        Random random = new Random(3);
        int n = 40;
        try (PointerScope scope = new PointerScope()) {
            Tensor x = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * n, 2), n, ROWS).to(torch.ScalarType.BFloat16).t();
            Tensor w = Tensors.fromFloats(RandomArrays.gaussian(random, n, 1), n).to(torch.ScalarType.BFloat16);
            Tensor dy = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * n, 1), ROWS, n).to(torch.ScalarType.BFloat16);
            assertTrue(!FusedElementwise.rmsNormFits(x, w), "a transposed x is not the kernel's");
            Tensor fallback = TrainingRmsNorm.forward(x, w, 1e-5).backward(dy);
            Tensor kernel = TrainingRmsNorm.forward(x.contiguous(), w, 1e-5).backward(dy);
            assertClose(fallback, kernel, DType.BF16);
            assertThrows(IllegalArgumentException.class, () -> TrainingRmsNorm.forward(x.contiguous(), w, 1e-5).backward(dy.t()));
        }
    }

    /** gate and up as the two halves of a fused product's output [rows, 1, 2n], as the MLP has them. */
    @ParameterizedTest
    @CsvSource({"BF16, 300", "F32, 300", "BF16, 5"})
    void siluMulGradientsMatchAutogradAndDoubles(DType dtype, int n) {
        Random random = new Random(n + 1);
        try (PointerScope scope = new PointerScope()) {
            float[] values = RandomArrays.gaussian(random, ROWS * 2 * n, 4);
            values[0] = -120; // exp(120) overflows: silu's derivative is 0
            values[1] = 95;
            Tensor fused = Tensors.fromFloats(values, ROWS, 1, 2 * n).to(dtype.scalarType());
            Tensor gate = fused.narrow(-1, 0, n);
            Tensor up = fused.narrow(-1, n, n);
            Tensor dout = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * n, 1), ROWS, 1, n).to(dtype.scalarType());
            assertTrue(FusedElementwise.siluMulFits(gate, up));

            TrainingSiluMul.Forward kernel = TrainingSiluMul.forward(fused);
            Tensor joined = kernel.backward(dout);
            assertArrayEquals(Tensors.shape(fused), Tensors.shape(joined));
            Tensor[] grads = {joined.narrow(-1, 0, n), joined.narrow(-1, n, n)};
            Tensor[] leaves = {gate.detach().requires_grad_(true), up.detach().requires_grad_(true)};
            Tensor reference = torch.silu(leaves[0]).mul(leaves[1]);
            assertClose(reference.detach(), kernel.out(), dtype);
            reference.backward(dout, new BoolOptional(), false, new TensorArrayRefOptional());
            assertClose(leaves[0].grad(), grads[0], dtype);
            assertClose(leaves[1].grad(), grads[1], dtype);

            float[] g = Tensors.toFloats(gate.contiguous().to(torch.ScalarType.Float));
            float[] u = Tensors.toFloats(up.contiguous().to(torch.ScalarType.Float));
            float[] d = Tensors.toFloats(dout.to(torch.ScalarType.Float));
            float[] dg = Tensors.toFloats(grads[0].contiguous().to(torch.ScalarType.Float));
            float[] du = Tensors.toFloats(grads[1].contiguous().to(torch.ScalarType.Float));
            double tolerance = dtype == DType.BF16 ? 2.0 / 128 : 1e-5;
            for (int i = 0; i < g.length; i++) {
                double s = 1 / (1 + Math.exp(-g[i]));
                double expectedUp = d[i] * g[i] * s;
                double expectedGate = d[i] * u[i] * s * (1 + g[i] * (1 - s));
                assertEquals(expectedUp, du[i], Math.abs(expectedUp) * tolerance + 1e-30, "up, entry " + i);
                // near silu's minimum (gate about -1.28) the derivative's two terms cancel: measured against |dout up|
                assertEquals(expectedGate, dg[i], (Math.abs(expectedGate) + Math.abs(d[i] * u[i])) * tolerance + 1e-30, "gate, entry " + i);
            }
        }
    }

    @Test
    void siluMulWithoutTheKernelGivesTheSameGradients() {
        Random random = new Random(5);
        int n = 24;
        try (PointerScope scope = new PointerScope()) {
            Tensor fused = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * 2 * n, 2), 2 * n, ROWS).to(torch.ScalarType.BFloat16);
            Tensor strided = fused.t(); // entries of a row 50 apart: not the kernel's
            Tensor dout = Tensors.fromFloats(RandomArrays.gaussian(random, ROWS * n, 1), ROWS, n).to(torch.ScalarType.BFloat16);
            assertTrue(!FusedElementwise.siluMulFits(strided.narrow(-1, 0, n), strided.narrow(-1, n, n)));
            Tensor fallback = TrainingSiluMul.forward(strided).backward(dout);
            Tensor kernel = TrainingSiluMul.forward(strided.contiguous()).backward(dout);
            assertClose(fallback, kernel, DType.BF16);
            assertThrows(IllegalArgumentException.class, () -> TrainingSiluMul.forward(strided.narrow(-1, 0, 2 * n - 1)));
        }
    }

    /** v rounded to bf16 (to nearest even) where dtype is bf16. */
    private static float held(float v, DType dtype) {
        if (dtype != DType.BF16) {
            return v;
        }
        int bits = Float.floatToIntBits(v);
        return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
    }

    /** bf16: within one rounding step of the dtype (the kernels sum in another order); fp32: within its last digits. */
    private static void assertClose(Tensor expected, Tensor got, DType dtype) {
        float[] e = Tensors.toFloats(expected.contiguous().to(torch.ScalarType.Float));
        float[] g = Tensors.toFloats(got.contiguous().to(torch.ScalarType.Float));
        assertEquals(e.length, g.length);
        double largest = 0;
        for (float v : e) {
            largest = Math.max(largest, Math.abs(v));
        }
        for (int i = 0; i < e.length; i++) {
            double tolerance = dtype == DType.BF16 ? Math.abs(e[i]) / 128 + largest * 1e-3 : Math.abs(e[i]) * 1e-5 + largest * 1e-6;
            assertEquals(e[i], g[i], tolerance, "entry " + i);
        }
    }
}
