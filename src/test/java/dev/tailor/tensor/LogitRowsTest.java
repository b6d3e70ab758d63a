package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Each row's greedy token and log-normaliser against the same written out in Java doubles: on rows
 * that are a strided part of a wider tensor (the kernel) or a transposed view (libtorch's fallback),
 * with a vocabulary that is not a multiple of the kernel's 16 lanes, the maximum in the last,
 * partial block, ties, masked (-inf) entries and a NaN.
 */
class LogitRowsTest {
    static final int ROWS = 6;
    static final int VOCAB = 1001;

    @BeforeAll
    static void configure() {
        Engine.configure(2);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void matchesJavaDoubles(boolean transposed) {
        float[][] rows = rows();
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = transposed ? columns(rows).t() : wide(rows).narrow(1, 0, VOCAB);
            assertEquals(transposed ? ROWS : 1, logits.stride(1)); // fallback or kernel, as meant
            int[] argmax = LogitRows.argmax(logits);
            double[] lse = LogitRows.logNormalizers(logits);
            for (int r = 0; r < ROWS; r++) {
                assertEquals(firstMax(rows[r]), argmax[r], "row " + r);
                double expected = logSumExp(rows[r]);
                if (Double.isNaN(expected)) {
                    assertTrue(Double.isNaN(lse[r]), "row " + r + ": " + lse[r]);
                } else {
                    assertEquals(expected, lse[r], 2e-6, "row " + r);
                }
            }
        }
    }

    @Test
    void oneRowIsAVocabulary() {
        float[][] rows = rows();
        try (PointerScope scope = new PointerScope()) {
            Tensor row = Tensors.fromFloats(rows[0], VOCAB);
            assertArrayEquals(new int[] {firstMax(rows[0])}, LogitRows.argmax(row));
            assertEquals(logSumExp(rows[0]), LogitRows.logNormalizers(row)[0], 2e-6);
        }
    }

    @Test
    void refusesWhatIsNotFp32Logits() {
        try (PointerScope scope = new PointerScope()) {
            Tensor bf16 = torch.zeros(2, 8).to(torch.ScalarType.BFloat16);
            assertThrows(IllegalArgumentException.class, () -> LogitRows.argmax(bf16));
            Tensor threeDims = torch.zeros(2, 2, 8);
            assertThrows(IllegalArgumentException.class, () -> LogitRows.logNormalizers(threeDims));
            Tensor noVocabulary = torch.zeros(2, 0);
            assertThrows(IllegalArgumentException.class, () -> LogitRows.argmax(noVocabulary));
        }
    }

    /**
     * Training's loss on rows of 2500 entries (two full blocks of the kernel's 1024 and a partial one), in
     * bf16 and fp32, on the kernel (contiguous rows) and libtorch's fallback (a transposed view): each
     * row's loss, argmax and, overwriting the logits, the gradient of gradScale * loss against the
     * same in Java doubles from the logits as stored (bf16-rounded where bf16). Targets: in the last
     * partial block, the argmax itself, the first entry, and an ordinary one.
     */
    @ParameterizedTest
    @ValueSource(strings = {"bf16 kernel", "f32 kernel", "bf16 fallback", "f32 fallback"})
    void crossEntropyAndItsGradientMatchJavaDoubles(String variant) {
        int vocab = 2500;
        Random random = new Random(11);
        float[][] rows = new float[4][vocab];
        for (int r = 0; r < rows.length; r++) {
            for (int i = 0; i < vocab; i++) {
                rows[r][i] = (float) (random.nextGaussian() * 4 - (i % 9 == 0 ? 20 : 0));
            }
        }
        rows[1][1234] = 30;
        rows[2][0] = Float.NEGATIVE_INFINITY; // masked entries have no probability and a zero gradient
        long[] targets = {vocab - 3, 1234, 5, 700};
        double scale = 0.25;
        boolean bf16 = variant.startsWith("bf16");
        try (PointerScope scope = new PointerScope()) {
            Tensor stored = Tensors.fromFloats(flatten(rows), rows.length, vocab).to(bf16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float);
            float[] x = Tensors.toFloats(stored); // what the kernel reads
            Tensor logits = variant.endsWith("fallback") ? stored.t().contiguous().t() : stored;
            assertEquals(variant.endsWith("fallback") ? rows.length : 1, logits.stride(1));

            LogitRows.CrossEntropy loss = LogitRows.crossEntropy(logits, targets, scale);

            float[] gradient = Tensors.toFloats(logits);
            double sum = 0;
            for (int r = 0; r < rows.length; r++) {
                float[] row = java.util.Arrays.copyOfRange(x, r * vocab, (r + 1) * vocab);
                double lse = logSumExp(row);
                assertEquals(lse - row[(int) targets[r]], loss.losses()[r], 1e-5, variant + " row " + r);
                assertEquals(firstMax(row), loss.argmax()[r], variant + " row " + r);
                sum += lse - row[(int) targets[r]];
                for (int i = 0; i < vocab; i++) {
                    double expected = scale * (Math.exp(row[i] - lse) - (i == targets[r] ? 1 : 0));
                    double got = gradient[r * vocab + i];
                    // the target's p - 1 cancels: fp32's p near 1 is good to a few 1e-6 (the kernel's exp) at best
                    double tolerance = (bf16 ? Math.abs(expected) / 128 : Math.abs(expected) * 2e-5) + (i == targets[r] ? scale * 5e-6 : 1e-12);
                    assertEquals(expected, got, tolerance, variant + " row " + r + " entry " + i);
                }
            }
            assertEquals(sum, loss.sum(), 1e-4);
            assertEquals(1, loss.correct(targets)); // row 1's target is its maximum
        }
    }

    @Test
    void crossEntropyRefusesTargetsOutsideTheVocabulary() {
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = torch.zeros(2, 8);
            assertThrows(IllegalArgumentException.class, () -> LogitRows.crossEntropy(logits, new long[] {0, 8}, 0));
            assertThrows(IllegalArgumentException.class, () -> LogitRows.crossEntropy(logits, new long[] {0, -100}, 0));
            assertThrows(IllegalArgumentException.class, () -> LogitRows.crossEntropy(logits, new long[] {0}, 0));
            assertThrows(IllegalArgumentException.class, () -> LogitRows.crossEntropy(torch.zeros(2, 8).to(torch.ScalarType.Half),
                    new long[] {0, 1}, 0));
        }
    }

    private static float[] flatten(float[][] rows) {
        float[] flat = new float[rows.length * rows[0].length];
        for (int r = 0; r < rows.length; r++) {
            System.arraycopy(rows[r], 0, flat, r * rows[r].length, rows[r].length);
        }
        return flat;
    }

    /**
     * Row 0: the maximum in the last partial block; 1: a tie (the first wins); 2: large logits and
     * masked entries; 3: the maximum first; 4: a NaN after the maximum; 5: a wide spread.
     */
    private static float[][] rows() {
        Random random = new Random(7);
        float[][] rows = new float[ROWS][VOCAB];
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < VOCAB; i++) {
                rows[r][i] = (float) (random.nextGaussian() * (r == 5 ? 12 : 3));
            }
        }
        rows[0][VOCAB - 2] = 40;
        rows[1][17] = 25;
        rows[1][600] = 25;
        for (int i = 0; i < VOCAB; i++) {
            rows[2][i] += 60;
        }
        for (int i = 0; i < VOCAB; i += 7) {
            rows[2][i] = Float.NEGATIVE_INFINITY;
        }
        rows[3][0] = 30;
        rows[4][5] = 30;
        rows[4][900] = Float.NaN;
        return rows;
    }

    private static Tensor wide(float[][] rows) {
        int width = VOCAB + 23;
        float[] flat = new float[ROWS * width];
        for (int r = 0; r < ROWS; r++) {
            System.arraycopy(rows[r], 0, flat, r * width, VOCAB);
            flat[r * width + VOCAB] = 1000; // beyond the row's end: must not be read as part of it
        }
        return Tensors.fromFloats(flat, ROWS, width);
    }

    private static Tensor columns(float[][] rows) {
        float[] flat = new float[VOCAB * ROWS];
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < VOCAB; i++) {
                flat[i * ROWS + r] = rows[r][i];
            }
        }
        return Tensors.fromFloats(flat, VOCAB, ROWS);
    }

    /** torch.argmax: NaN ranks above every number. */
    private static int firstMax(float[] row) {
        int best = 0;
        for (int i = 0; i < row.length; i++) {
            if (Float.isNaN(row[i])) {
                return i;
            }
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double logSumExp(float[] row) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : row) {
            if (Float.isNaN(x)) {
                return Double.NaN;
            }
            max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : row) {
            sum += Math.exp(x - max);
        }
        return max + Math.log(sum);
    }
}
