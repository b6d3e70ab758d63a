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
