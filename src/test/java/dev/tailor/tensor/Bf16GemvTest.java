package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The native bf16 GEMV kernel against the same products written out in Java doubles. */
class Bf16GemvTest {
    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @Test
    void loadsWhereTheCpuHasAvx512Bf16() throws IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        boolean cpuHasIt = System.getProperty("os.arch").equals("amd64") && Files.exists(cpuinfo)
                && Files.readString(cpuinfo).contains(" avx512_bf16");
        assumeTrue(cpuHasIt, "CPU without AVX-512 BF16: libtorch's linear is used");
        assertTrue(Bf16Gemv.available(), "kernel built by the javacpp plugin but not loaded");
    }

    /**
     * in not a multiple of 32 (AVX-512 path with a masked tail), out not a multiple of threads or chunks;
     * small sizes stay on one thread. Where the CPU has AMX, rows 2-32 with in a multiple of 32 take the
     * tiles (in groups of 16, the last one padded), with out mod 16 rows left to the AVX-512 path (8
     * rows per call there).
     */
    @ParameterizedTest
    @CsvSource({"1, 899, 1001", "2, 899, 1001", "3, 899, 1001", "4, 899, 1001", "5, 899, 1001", "6, 899, 1001",
            "7, 899, 1001", "8, 899, 1001", "1, 45, 37", "8, 45, 37", "3, 32, 5", "5, 1, 3", "1, 896, 4864",
            "2, 96, 1001", "8, 896, 4864", "9, 64, 1001", "12, 128, 37", "16, 32, 1003", "16, 896, 1152",
            "17, 64, 1001", "27, 96, 37", "32, 896, 1152"})
    void matchesJavaDoubles(int rows, int in, int out) {
        assumeTrue(Bf16Gemv.available() && rows <= Bf16Gemv.maxRows(in), "more rows than this CPU's kernel takes");
        Random random = new Random(rows * 1000L + in + out);
        short[] x = randomBf16(random, rows * in);
        short[] w = randomBf16(random, out * in);
        short[] b = randomBf16(random, out);
        try (PointerScope scope = new PointerScope()) {
            Tensor xt = bf16Tensor(x, rows, in);
            Tensor wt = bf16Tensor(w, out, in);
            Tensor bt = bf16Tensor(b, out);
            for (boolean withBias : new boolean[] {false, true}) {
                Tensor bias = withBias ? bt : null;
                assertTrue(Bf16Gemv.supports(xt, wt, bias));
                Tensor y = Tensors.linear(xt, wt, bias);
                assertEquals(torch.ScalarType.BFloat16, y.scalar_type().intern());
                assertArrayEquals(new long[] {rows, out}, Tensors.shape(y));
                float[] got = Tensors.toFloats(y);
                for (int r = 0; r < rows; r++) {
                    for (int o = 0; o < out; o++) {
                        double sum = withBias ? value(b[o]) : 0;
                        double magnitude = Math.abs(sum);
                        for (int k = 0; k < in; k++) {
                            double p = value(x[r * in + k]) * value(w[o * in + k]);
                            sum += p;
                            magnitude += Math.abs(p);
                        }
                        // one bf16 rounding of the result plus fp32 accumulation error
                        double tolerance = Math.abs(sum) * 0x1p-8 + magnitude * 1e-5 + 1e-30;
                        double error = Math.abs(got[r * out + o] - sum);
                        if (error > tolerance) {
                            throw new AssertionError("rows " + rows + " bias " + withBias + " y[" + r + ", " + o + "] = "
                                    + got[r * out + o] + ", expected " + sum + " +- " + tolerance);
                        }
                    }
                }
            }
        }
    }

    @Test
    void leadingDimensionsAreKeptAndLibtorchAgrees() {
        assumeTrue(Bf16Gemv.available());
        Random random = new Random(7);
        int in = 96;
        int out = 3001;
        try (PointerScope scope = new PointerScope()) {
            Tensor x = bf16Tensor(randomBf16(random, 2 * 3 * in), 2, 3, in);
            Tensor w = bf16Tensor(randomBf16(random, out * in), out, in);
            Tensor y = Bf16Gemv.linear(x, w, null);
            assertArrayEquals(new long[] {2, 3, out}, Tensors.shape(y));
            float[] ours = Tensors.toFloats(y);
            float[] theirs = Tensors.toFloats(torch.linear(x.reshape(-1, in), w).view(2, 3, out));
            for (int i = 0; i < ours.length; i++) {
                assertEquals(theirs[i], ours[i], Math.abs(theirs[i]) * 0x1p-7 + 1e-3, "element " + i);
            }
        }
    }

    @Test
    void leavesEverythingElseToLibtorch() {
        Random random = new Random(3);
        int in = 64;
        int out = 40;
        try (PointerScope scope = new PointerScope()) {
            Tensor w = bf16Tensor(randomBf16(random, out * in), out, in);
            int rows = Bf16Gemv.maxRows(in) + 1;
            Tensor x = bf16Tensor(randomBf16(random, rows * in), rows, in);
            Tensor one = bf16Tensor(randomBf16(random, in), 1, in);
            assertFalse(Bf16Gemv.supports(x, w, null), "more rows (prefill) is libtorch's GEMM");
            assertFalse(Bf16Gemv.supports(one.to(torch.ScalarType.Float), w.to(torch.ScalarType.Float), null));
            assertFalse(Bf16Gemv.supports(one, w.t(), null), "strided weight");
            assertFalse(Bf16Gemv.supports(bf16Tensor(randomBf16(random, 2 * in), in, 2).t(), w, null), "strided x");
            assertFalse(Bf16Gemv.supports(one, w, w.select(1, 0)), "strided bias");
            assertFalse(Bf16Gemv.supports(one, w, bf16Tensor(randomBf16(random, out), out).to(torch.ScalarType.Float)));
            Tensor trainable = w.clone();
            trainable.set_requires_grad(true);
            assertFalse(Bf16Gemv.supports(one, trainable, null), "autograd must see the product");
            Tensor y = Tensors.linear(one, trainable, null);
            assertTrue(y.requires_grad());
            assertArrayEquals(new long[] {rows, out}, Tensors.shape(Tensors.linear(x, w, null)));
        }
    }

    static short[] randomBf16(Random random, int n) {
        short[] v = new short[n];
        for (int i = 0; i < n; i++) {
            v[i] = (short) (Float.floatToRawIntBits((float) random.nextGaussian()) >>> 16);
        }
        return v;
    }

    static double value(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    static Tensor bf16Tensor(short[] bits, long... shape) {
        try (ShortPointer p = new ShortPointer(bits)) {
            return Tensors.fromBytes(p, DType.BF16, shape);
        }
    }
}
