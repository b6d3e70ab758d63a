package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The sampler against hand-computed expectations: which ids each filter allows (transformers'
 * RepetitionPenalty, Temperature, TopK, TopP and MinP processors) and, for temperature, the
 * empirical frequencies against softmax(logits / T) computed here in doubles.
 */
class SamplerTest {
    private static final int[] NONE = new int[0];

    @BeforeAll
    static void threads() {
        Engine.ensureConfigured();
    }

    private static SamplingParams sampling(double temperature) {
        return new SamplingParams(temperature, 1.0, 0, 0.0, 1.0, 1234L, 16, List.of(), Set.of());
    }

    private static int next(Sampler sampler, float[] logits, int[] seen) {
        try (PointerScope scope = new PointerScope()) {
            return sampler.next(Tensors.fromFloats(logits, logits.length), seen);
        }
    }

    /** Draws {@code n} times and counts each id. */
    private static int[] counts(SamplingParams params, float[] logits, int[] seen, int n) {
        Sampler sampler = new Sampler(params);
        int[] counts = new int[logits.length];
        try (PointerScope scope = new PointerScope()) {
            Tensor row = Tensors.fromFloats(logits, logits.length);
            for (int i = 0; i < n; i++) {
                try (PointerScope step = new PointerScope()) {
                    counts[sampler.next(row, seen)]++;
                }
            }
        }
        return counts;
    }

    private static Set<Integer> drawn(SamplingParams params, float[] logits, int n) {
        int[] c = counts(params, logits, NONE, n);
        Set<Integer> ids = new TreeSet<>();
        for (int i = 0; i < c.length; i++) {
            if (c[i] > 0) {
                ids.add(i);
            }
        }
        return ids;
    }

    private static float[] logOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    // ---- greedy and repetition penalty ----

    @Test
    void greedyReturnsTheArgmax() {
        Sampler greedy = new Sampler(sampling(0));
        assertEquals(1, next(greedy, new float[] {0.1f, 3.2f, -1f, 3.1f, 2f}, NONE));
        assertEquals(4, next(greedy, new float[] {-5f, -4f, -3f, -2f, -1f}, NONE));
        assertEquals(0, next(greedy, new float[] {7f, -4f, 6.99f}, NONE));
    }

    /** The engine reports log-probabilities from the same logits after sampling: no setting may change them. */
    @Test
    void samplingLeavesTheCallersLogitsAsTheyWere() {
        float[] values = {2.0f, 1.5f, -0.5f, -3.0f, 0.7f};
        List<SamplingParams> settings = List.of(sampling(0), sampling(0).withRepetitionPenalty(1.3),
                sampling(0.8).withTopK(2).withTopP(0.9).withMinP(0.05).withRepetitionPenalty(1.3));
        for (SamplingParams params : settings) {
            try (PointerScope scope = new PointerScope()) {
                Tensor logits = Tensors.fromFloats(values, values.length);
                new Sampler(params).next(logits, new int[] {0, 3});
                assertArrayEquals(values, Tensors.toFloats(logits), params.toString());
            }
        }
    }

    @Test
    void repetitionPenaltyDividesPositiveLogitsAndFlipsTheArgmax() {
        float[] logits = {2.0f, 1.5f, -0.5f, -3.0f};
        assertEquals(0, next(new Sampler(sampling(0)), logits, new int[] {0}));
        // 2.0 / 2 = 1.0 < 1.5
        assertEquals(1, next(new Sampler(sampling(0).withRepetitionPenalty(2.0)), logits, new int[] {0}));
    }

    @Test
    void repetitionPenaltyIsADivisionNotSomeOtherShrink() {
        SamplingParams p = sampling(0).withRepetitionPenalty(2.0);
        // 3.0 / 2 = 1.5: beats 1.49, loses to 1.51
        assertEquals(0, next(new Sampler(p), new float[] {3.0f, 1.49f}, new int[] {0}));
        assertEquals(1, next(new Sampler(p), new float[] {3.0f, 1.51f}, new int[] {0}));
    }

    @Test
    void repetitionPenaltyMultipliesNegativeLogits() {
        // -1.0 * 1.5 = -1.5 < -1.2; dividing instead (-0.67) would keep id 0 on top
        float[] logits = {-1.0f, -1.2f, -5.0f};
        assertEquals(0, next(new Sampler(sampling(0)), logits, NONE));
        assertEquals(1, next(new Sampler(sampling(0).withRepetitionPenalty(1.5)), logits, new int[] {0}));
    }

    @Test
    void repetitionPenaltyCountsEachSeenIdOnce() {
        // once: 4.0 / 2 = 2.0 > 1.5; twice would give 1.0 < 1.5
        float[] logits = {4.0f, 1.5f, 1.0f};
        assertEquals(0, next(new Sampler(sampling(0).withRepetitionPenalty(2.0)), logits, new int[] {0, 0, 0, 2}));
    }

    @Test
    void repetitionPenaltyOnlyTouchesSeenIds() {
        // the unseen leader keeps its logit: 1.0 stays above the seen 1.8 / 2 = 0.9
        float[] logits = {1.0f, 1.8f, -0.2f};
        assertEquals(0, next(new Sampler(sampling(0).withRepetitionPenalty(2.0)), logits, new int[] {1}));
        // a penalty below 1 rewards seen ids: 0.9 / 0.5 = 1.8 > 1.0
        assertEquals(1, next(new Sampler(sampling(0).withRepetitionPenalty(0.5)), new float[] {1.0f, 0.9f}, new int[] {1}));
    }

    @ParameterizedTest(name = "T = {0}")
    @ValueSource(doubles = {1e-6, 1e-30, 2e-38, 1e-40, 1e-45, 1e-60, 1e-300})
    void aTinyPositiveTemperatureSamplesTheArgmax(double temperature) {
        // logits / T overflows float for T below ~1e-37; the draw must still be the (near-certain) argmax
        assertEquals(Set.of(2), drawn(sampling(temperature), new float[] {1f, 2f, 3f, -4f}, 50));
        assertEquals(Set.of(1), drawn(sampling(temperature).withTopK(3).withTopP(0.9).withMinP(0.1),
                new float[] {30f, 31.5f, -12f, 5f}, 50));
    }

    // ---- top-k ----

    @Test
    void topKDrawsExactlyTheKLargest() {
        // ids in scrambled order; the runners-up (1.5, 1.45) are close enough that any leak would show
        float[] logits = {1.5f, 2.0f, -1f, 1.8f, 1.45f, 1.6f, 0f, 1.9f, -3f, 1.7f, 1.0f, 1.2f};
        Set<Integer> want = Set.of(1, 7, 3, 9, 5);
        assertEquals(want, drawn(sampling(1.0).withTopK(5), logits, 3000));
        assertEquals(Set.of(1), drawn(sampling(1.0).withTopK(1), logits, 500));
        // control: without top-k the runners-up do appear in as many draws
        assertTrue(drawn(sampling(1.0), logits, 3000).containsAll(Set.of(0, 4, 10, 11)));
    }

    // ---- top-p ----

    /** probs: id 2 -> 0.5, id 0 -> 0.3, id 3 -> 0.15, id 1 -> 0.05 (scrambled, to test the sort and scatter back). */
    private static final float[] TOP_P_LOGITS = logOf(0.3, 0.05, 0.5, 0.15);

    @ParameterizedTest(name = "top_p {0} -> ids {1}")
    @CsvSource({
        "0.000001, 2",
        "0.3, 2",
        "0.5, 2",
        "0.51, 2 0",
        "0.8, 2 0",
        "0.81, 2 0 3",
        "0.95, 2 0 3",
        "0.96, 2 0 3 1",
        "1.0, 2 0 3 1",
    })
    void topPKeepsTheSmallestSetWhoseMassReachesTopP(double topP, String ids) {
        Set<Integer> want = new TreeSet<>();
        for (String id : ids.split(" ")) {
            want.add(Integer.parseInt(id));
        }
        assertEquals(want, drawn(sampling(1.0).withTopP(topP), TOP_P_LOGITS, 4000));
    }

    @Test
    void topPAppliesToTheTopKRenormalisedDistribution() {
        // probs 0.3 0.25 0.2 0.15 0.1; top-k 3 renormalises to 0.4 0.333 0.267, whose top 0.7 is {0, 1};
        // on the unrenormalised probs the same top_p would also keep id 2
        float[] logits = logOf(0.3, 0.25, 0.2, 0.15, 0.1);
        assertEquals(Set.of(0, 1), drawn(sampling(1.0).withTopK(3).withTopP(0.7), logits, 3000));
    }

    // ---- min-p ----

    @Test
    void minPDropsTokensBelowMinPTimesTheTopProbability() {
        float[] logits = logOf(0.05, 0.4, 0.15, 0.3, 0.1);
        // 0.3 * 0.4 = 0.12: 0.1 and 0.05 go
        assertEquals(Set.of(1, 2, 3), drawn(sampling(1.0).withMinP(0.3), logits, 3000));
        // 0.2 * 0.4 = 0.08: only 0.05 goes
        assertEquals(Set.of(1, 2, 3, 4), drawn(sampling(1.0).withMinP(0.2), logits, 3000));
        assertEquals(Set.of(1), drawn(sampling(1.0).withMinP(1.0), logits, 500));
    }

    @Test
    void minPSeesTheTemperatureScaledDistribution() {
        // probs 0.6 0.3 0.1; at T = 0.5 they become 0.783 0.196 0.022: min_p 0.3 keeps only id 0
        // (unscaled, the threshold 0.18 would keep id 1 too)
        float[] logits = logOf(0.6, 0.3, 0.1);
        assertEquals(Set.of(0), drawn(sampling(0.5).withMinP(0.3), logits, 3000));
        assertEquals(Set.of(0, 1), drawn(sampling(1.0).withMinP(0.3), logits, 3000));
    }

    // ---- temperature: empirical frequencies ----

    @ParameterizedTest(name = "T = {0}")
    @CsvSource({"0.7", "1.0", "2.5"})
    void frequenciesMatchSoftmaxOfLogitsOverTemperature(double temperature) {
        float[] logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f};
        int n = 20_000;
        int[] c = counts(sampling(temperature), logits, NONE, n);
        assertFrequencies(softmax(logits, temperature, null, 1.0), c, n);
    }

    @Test
    void penaltyThenTemperatureGivesTheExpectedFrequencies() {
        float[] logits = {1.5f, -0.4f, 0.8f, 0.2f};
        int[] seen = {0, 1, 1};
        int n = 20_000;
        int[] c = counts(sampling(0.8).withRepetitionPenalty(1.3), logits, seen, n);
        assertFrequencies(softmax(logits, 0.8, seen, 1.3), c, n);
    }

    /** softmax((penalised logits) / T) in doubles, independently of the sampler. */
    private static double[] softmax(float[] logits, double temperature, int[] seen, double penalty) {
        double[] z = new double[logits.length];
        for (int i = 0; i < z.length; i++) {
            z[i] = logits[i];
        }
        if (seen != null) {
            for (int id : IntStream.of(seen).distinct().toArray()) {
                z[id] = z[id] < 0 ? z[id] * penalty : z[id] / penalty;
            }
        }
        double max = Arrays.stream(z).max().orElseThrow();
        double sum = 0;
        for (int i = 0; i < z.length; i++) {
            z[i] = Math.exp((z[i] - max) / temperature);
            sum += z[i];
        }
        for (int i = 0; i < z.length; i++) {
            z[i] /= sum;
        }
        return z;
    }

    /** Each frequency within 5 binomial standard deviations (plus a hair) of its probability. */
    private static void assertFrequencies(double[] p, int[] counts, int n) {
        for (int i = 0; i < p.length; i++) {
            double f = counts[i] / (double) n;
            double bound = 5 * Math.sqrt(p[i] * (1 - p[i]) / n) + 1e-3;
            assertEquals(p[i], f, bound, "id " + i + ": expected p " + p[i] + ", drew " + f
                    + " (all counts " + Arrays.toString(counts) + ")");
        }
    }

    // ---- seeds ----

    private static int[] sequence(Long seed, float[] logits, int n) {
        Sampler sampler = new Sampler(sampling(1.0).withSeed(seed));
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = next(sampler, logits, NONE);
        }
        return out;
    }

    @Test
    void sameSeedSameSequenceDifferentSeedDifferentSequence() {
        float[] logits = new float[16]; // uniform: 16^200 possible sequences
        int[] a = sequence(42L, logits, 200);
        assertEquals(Arrays.toString(a), Arrays.toString(sequence(42L, logits, 200)));
        assertNotEquals(Arrays.toString(a), Arrays.toString(sequence(43L, logits, 200)));
        assertNotEquals(Arrays.toString(sequence(null, logits, 200)), Arrays.toString(sequence(null, logits, 200)));
    }

    // ---- a real vocabulary size ----

    @Test
    void aQwenSizedRowWorksForGreedyTopKAndTopP() {
        int v = 151_936;
        Random random = new Random(7);
        float[] logits = new float[v];
        for (int i = 0; i < v; i++) {
            logits[i] = (float) (random.nextGaussian() * 3);
        }
        Integer[] order = IntStream.range(0, v).boxed().sorted(Comparator.comparingDouble(i -> -logits[i])).toArray(Integer[]::new);

        assertEquals((int) order[0], next(new Sampler(sampling(0)), logits, NONE));

        Set<Integer> top20 = Set.of(Arrays.copyOf(order, 20));
        Set<Integer> drawnTopK = drawn(sampling(1.0).withTopK(20), logits, 400);
        assertTrue(top20.containsAll(drawnTopK), "drew outside the top 20: " + drawnTopK);
        assertTrue(drawnTopK.size() > 3, "top-k 20 drew only " + drawnTopK);

        // the nucleus computed here in doubles
        double[] p = softmax(logits, 1.0, null, 1.0);
        Set<Integer> nucleus = new TreeSet<>();
        double mass = 0;
        for (int i = 0; mass < 0.5; i++) {
            nucleus.add(order[i]);
            mass += p[order[i]];
        }
        Set<Integer> drawnTopP = drawn(sampling(1.0).withTopP(0.5), logits, 400);
        assertTrue(nucleus.containsAll(drawnTopP), "drew outside the top-p 0.5 nucleus of " + nucleus.size() + " ids");
        assertTrue(drawnTopP.size() > 3, "top-p 0.5 drew only " + drawnTopP);
    }
}
