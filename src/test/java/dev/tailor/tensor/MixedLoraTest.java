package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Each row's own LoRA product added in place, against {@code y + scaling * B (A x)} written out in Java
 * doubles: rows without an adapter and columns outside the module's stay exactly as they were.
 */
class MixedLoraTest {
    static final int IN = 40; // not a multiple of 16: the kernel's tails
    static final int OUT = 37;
    static final int WIDTH = 50;
    static final int OFFSET = 7;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    /** Outputs 37 (the kernel's 16-wide blocks and tail) and 150 (its 64-wide blocks of a prompt run too). */
    @ParameterizedTest
    @CsvSource({"BF16, true, 37", "F32, true, 37", "BF16, false, 37", "F32, false, 37", "BF16, true, 150", "F32, true, 150"})
    void addsEachRowsOwnProductAndNothingElse(DType dtype, boolean nativeKernel, int out) {
        Random random = new Random(dtype.ordinal() * 2L + (nativeKernel ? 1 : 0) + out);
        int width = out + 13;
        try (PointerScope scope = new PointerScope()) {
            // ranks 5 and 3 (not multiples of 4), scalings 2 and 0.5
            float[][] a = {RandomArrays.gaussian(random, 5 * IN, 1), RandomArrays.gaussian(random, 3 * IN, 1)};
            float[][] b = {RandomArrays.gaussian(random, out * 5, 1), RandomArrays.gaussian(random, out * 3, 1)};
            MixedLora.Weights[] weights = {
                MixedLora.Weights.copyOf(Tensors.fromFloats(a[0], 5, IN), Tensors.fromFloats(b[0], out, 5), 2.0),
                MixedLora.Weights.copyOf(Tensors.fromFloats(a[1], 3, IN), Tensors.fromFloats(b[1], out, 3), 0.5)};
            // alternating adapters (row by row), then runs of 5 and 4 rows with one adapter (a prompt chunk's rows)
            int[] adapterOfRow = {0, -1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, -1};
            int rows = adapterOfRow.length;
            List<MixedLora.Weights> perRow = Arrays.stream(adapterOfRow).mapToObj(i -> i < 0 ? null : weights[i]).toList();
            Tensor x = Tensors.fromFloats(RandomArrays.gaussian(random, rows * IN, 1), rows, 1, IN).to(dtype.scalarType());
            Tensor y = Tensors.fromFloats(RandomArrays.gaussian(random, rows * width, 1), rows, 1, width).to(dtype.scalarType());
            float[] xs = Tensors.toFloats(x);
            float[] before = Tensors.toFloats(y);
            if (nativeKernel) {
                MixedLora.addInPlace(x, y, OFFSET, perRow);
            } else {
                MixedLora.addWithLibtorch(x, y, OFFSET, perRow);
            }
            float[] after = Tensors.toFloats(y);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < width; c++) {
                    int i = r * width + c;
                    int k = adapterOfRow[r];
                    if (k < 0 || c < OFFSET || c >= OFFSET + out) {
                        assertEquals(before[i], after[i], 0.0, "row " + r + " column " + c + " is not the adapter's");
                        continue;
                    }
                    int rank = a[k].length / IN;
                    double delta = 0;
                    for (int j = 0; j < rank; j++) {
                        double h = 0;
                        for (int t = 0; t < IN; t++) {
                            h += (double) a[k][j * IN + t] * xs[r * IN + t];
                        }
                        delta += b[k][(c - OFFSET) * rank + j] * h;
                    }
                    delta *= k == 0 ? 2.0 : 0.5;
                    double want = before[i] + delta;
                    // bf16: the delta rounded once, then the sum (as y.add(delta.to(bf16)))
                    double tolerance = dtype == DType.BF16 ? 0x1p-8 * (Math.abs(delta) + Math.abs(want)) + 1e-6 : 1e-4 * (1 + Math.abs(want));
                    assertEquals(want, after[i], tolerance, "row " + r + " column " + c);
                }
            }
        }
    }

    @Test
    void refusesAdaptersOfAnotherShape() {
        try (PointerScope scope = new PointerScope()) {
            MixedLora.Weights narrow = MixedLora.Weights.copyOf(Tensors.zeros(DType.F32, Device.CPU, 2, IN - 1),
                    Tensors.zeros(DType.F32, Device.CPU, OUT, 2), 1.0);
            Tensor x = Tensors.zeros(DType.F32, Device.CPU, 1, IN);
            Tensor y = Tensors.zeros(DType.F32, Device.CPU, 1, WIDTH);
            assertThrows(IllegalArgumentException.class, () -> MixedLora.addInPlace(x, y, 0, List.of(narrow)));
            MixedLora.Weights fits = MixedLora.Weights.copyOf(Tensors.zeros(DType.F32, Device.CPU, 2, IN),
                    Tensors.zeros(DType.F32, Device.CPU, OUT, 2), 1.0);
            assertThrows(IllegalArgumentException.class, () -> MixedLora.addInPlace(x, y, WIDTH - OUT + 1, List.of(fits)),
                    "columns past y's width");
            assertThrows(IllegalArgumentException.class, () -> MixedLora.addInPlace(x, y.to(torch.ScalarType.BFloat16), 0, List.of(fits)),
                    "x and y of different dtypes");
        }
    }
}
