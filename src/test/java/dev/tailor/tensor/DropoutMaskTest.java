package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Dropout masks: entries 0 or 1 / (1 - p), kept at rate 1 - p within 5 standard deviations, neighbours
 * (in a row and across rows) kept independently, the same mask after the same torch.manual_seed and a
 * new one on every call.
 */
class DropoutMaskTest {
    static final int ROWS = 1000;
    static final int COLUMNS = 1001;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.05, 0.5, 0.9})
    void keepsEachEntryIndependentlyAtRateOneMinusP(double p) {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(11);
            float[] mask = Tensors.toFloats(DropoutMask.sample(new long[] {ROWS, COLUMNS}, p, Device.CPU));
            float kept = (float) (1 / (1 - p));
            int n = mask.length;
            long keptCount = 0;
            long bothInRow = 0;
            long bothAcrossRows = 0;
            for (int i = 0; i < n; i++) {
                assertEquals(0, Math.min(Math.abs(mask[i]), Math.abs(mask[i] - kept)), 0, "entry " + i + " is " + mask[i]);
                keptCount += mask[i] != 0 ? 1 : 0;
                if (i + 1 < n && mask[i] != 0 && mask[i + 1] != 0) {
                    bothInRow++;
                }
                if (i + COLUMNS < n && mask[i] != 0 && mask[i + COLUMNS] != 0) {
                    bothAcrossRows++;
                }
            }
            double q = 1 - p;
            assertEquals(q, (double) keptCount / n, 5 * Math.sqrt(q * p / n), "kept fraction");
            double pairs = q * q; // independent neighbours
            assertEquals(pairs, (double) bothInRow / (n - 1), 5 * Math.sqrt(pairs * (1 - pairs) / n) * 2, "neighbours in a row");
            assertEquals(pairs, (double) bothAcrossRows / (n - COLUMNS), 5 * Math.sqrt(pairs * (1 - pairs) / n) * 2, "neighbours across rows");
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2})
    void theSeedFixesTheMask(long seed) {
        try (PointerScope scope = new PointerScope()) {
            torch.manual_seed(seed);
            float[] first = Tensors.toFloats(DropoutMask.sample(new long[] {64, 100}, 0.3, Device.CPU));
            float[] next = Tensors.toFloats(DropoutMask.sample(new long[] {64, 100}, 0.3, Device.CPU));
            torch.manual_seed(seed);
            float[] again = Tensors.toFloats(DropoutMask.sample(new long[] {64, 100}, 0.3, Device.CPU));
            torch.manual_seed(seed + 10);
            float[] otherSeed = Tensors.toFloats(DropoutMask.sample(new long[] {64, 100}, 0.3, Device.CPU));
            assertArrayEquals(first, again);
            assertFalse(Arrays.equals(first, next));
            assertFalse(Arrays.equals(first, otherSeed));
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {0, 1, -0.1, Double.NaN})
    void refusesProbabilitiesOutsideZeroToOne(double p) {
        assertThrows(IllegalArgumentException.class, () -> DropoutMask.sample(new long[] {2, 2}, p, Device.CPU));
    }
}
