package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** OpenAI's billing arithmetic against hand-computed values (SPECS.md: epoch rule and billed tokens). */
class CostEstimateTest {
    @Test
    void defaultEpochsFollowOpenAisRuleAtEveryEdge() {
        // 3n < 100 -> min(25, 100 // n): n = 1..4 hit the cap of 25, n = 33 is the last small file (99 < 100)
        assertEquals(25, CostEstimate.defaultEpochs(1));
        assertEquals(25, CostEstimate.defaultEpochs(3)); // 100 // 3 = 33, capped
        assertEquals(25, CostEstimate.defaultEpochs(4)); // 100 // 4 = 25
        assertEquals(20, CostEstimate.defaultEpochs(5));
        assertEquals(10, CostEstimate.defaultEpochs(10));
        assertEquals(3, CostEstimate.defaultEpochs(33)); // 100 // 33 = 3
        assertEquals(3, CostEstimate.defaultEpochs(34)); // 102 >= 100: the default
        assertEquals(3, CostEstimate.defaultEpochs(8333)); // 24,999 <= 25,000
        assertEquals(2, CostEstimate.defaultEpochs(8334)); // 25,002 > 25,000 -> 25,000 // 8,334 = 2
        assertEquals(2, CostEstimate.defaultEpochs(12_500));
        assertEquals(1, CostEstimate.defaultEpochs(12_501));
        assertEquals(1, CostEstimate.defaultEpochs(1_000_000)); // 25,000 // n = 0 -> at least 1
        assertThrows(IllegalArgumentException.class, () -> CostEstimate.defaultEpochs(0));
    }

    @Test
    void billedTokensTruncateEachSequenceToMaxLenAndMultiplyByEpochs() {
        List<int[]> lengths = List.of(new int[] {10}, new int[] {600}, new int[] {512}, new int[] {513});

        CostEstimate e = CostEstimate.of(lengths, 0, 0, 512, OptionalInt.of(2), List.of(0.008, 0.5));

        assertEquals(4, e.examples());
        assertEquals(2, e.epochs());
        assertFalse(e.epochsAuto());
        assertEquals(10 + 512 + 512 + 512, e.tokensPerEpoch());
        assertEquals(2 * 1546, e.billedTokens());
        assertEquals(2, e.overMaxSeqLen(), "600 and 513 are over 512; 512 itself is not");
        assertEquals(0.008, e.prices().get(0).per1k());
        assertEquals(3.092 * 0.008, e.prices().get(0).total(), 1e-12);
        assertEquals(3.092 * 0.5, e.prices().get(1).total(), 1e-12);
        assertNull(e.throughput());
        assertNull(e.projectedSeconds());
    }

    @Test
    void aPreferencePairBillsBothSequencesAndCountsAsOneExample() {
        List<int[]> lengths = List.of(new int[] {100, 700}, new int[] {50, 60});

        CostEstimate e = CostEstimate.of(lengths, 0, 0, 512, OptionalInt.empty(), List.of(0.01));

        assertEquals(2, e.examples());
        assertEquals(25, e.epochs(), "auto for 2 examples: min(25, 100 // 2)");
        assertTrue(e.epochsAuto());
        assertEquals(100 + 512 + 50 + 60, e.tokensPerEpoch());
        assertEquals(25 * 722, e.billedTokens());
        assertEquals(1, e.overMaxSeqLen());
        assertEquals(18.05 * 0.01, e.prices().get(0).total(), 1e-12);
    }

    @Test
    void autoEpochsUseTheNumberOfExamples() {
        List<int[]> lengths = new ArrayList<>(Collections.nCopies(8334, new int[] {7}));
        CostEstimate large = CostEstimate.of(lengths, 0, 0, 512, OptionalInt.empty(), List.of());
        assertEquals(2, large.epochs());
        assertEquals(2L * 8334 * 7, large.billedTokens());
        assertEquals(3, CostEstimate.of(lengths.subList(0, 8333), 0, 0, 512, OptionalInt.empty(), List.of()).epochs());
    }

    @Test
    void aThroughputProjectsBilledTokensOverTokensPerSecond() {
        CostEstimate e = CostEstimate.of(List.of(new int[] {300}, new int[] {200}), 0, 0, 256, OptionalInt.of(3), List.of(0.008));
        CostEstimate.Throughput speed = new CostEstimate.Throughput(2.5, 400, 3, "cpu", 2, "LoRA r 16 on q_proj, batch 4");

        CostEstimate timed = e.withThroughput(speed);

        assertEquals(3 * (256 + 200), timed.billedTokens());
        assertEquals(1368 / 400.0, timed.projectedSeconds(), 1e-12);
        assertEquals(speed, timed.throughput());
        assertNull(e.projectedSeconds(), "the original is unchanged");
        assertThrows(IllegalArgumentException.class,
                () -> e.withThroughput(new CostEstimate.Throughput(0, 0, 1, "cpu", 1, "LoRA")));
    }

    @Test
    void sequencesTrainingSkipsAreBilledButNotTimed() {
        // the 1000-token example keeps no trained token within 512: billed as 512, skipped by training
        CostEstimate e = CostEstimate.of(List.of(new int[] {1000}, new int[] {200}), 1, 512, 512, OptionalInt.of(2), List.of(0.008))
                .withThroughput(new CostEstimate.Throughput(1, 100, 3, "cpu", 2, "LoRA"));

        assertEquals(2 * 712, e.billedTokens());
        assertEquals(2 * 200, e.trainingTokens());
        assertEquals(4.0, e.projectedSeconds(), 1e-12);
        assertTrue(e.summary().contains("skipped by training: 1 sequences (512 tokens per epoch)"), e.summary());
        assertThrows(IllegalArgumentException.class, () -> CostEstimate.of(List.of(new int[] {10}), 1, 11, 512, OptionalInt.of(1), List.of()));
    }

    @Test
    void jsonHasExactlyTheDocumentedKeys() {
        CostEstimate e = CostEstimate.of(List.of(new int[] {30}), 0, 0, 512, OptionalInt.empty(), List.of(0.008, 0.08));

        Map<String, Object> json = e.toJson();

        assertEquals(List.of("examples", "epochs", "epochs_rule", "max_seq_len", "tokens_per_epoch", "billed_tokens", "over_max_seq_len",
                "skipped_sequences", "skipped_tokens_per_epoch", "prices", "throughput", "projected_seconds"), new ArrayList<>(json.keySet()));
        assertEquals("auto", json.get("epochs_rule"));
        assertEquals(750L, json.get("billed_tokens"));
        assertEquals(List.of(Map.of("per_1k", 0.008, "total", 0.75 * 0.008), Map.of("per_1k", 0.08, "total", 0.75 * 0.08)), json.get("prices"));
        assertTrue(json.containsKey("throughput") && json.get("throughput") == null);
        @SuppressWarnings("unchecked")
        Map<String, Object> speed = (Map<String, Object>) e.withThroughput(new CostEstimate.Throughput(1, 75, 2, "cpu", 2, "LoRA"))
                .toJson().get("throughput");
        assertEquals(List.of("examples_per_second", "tokens_per_second", "steps_measured", "device", "threads", "training"),
                new ArrayList<>(speed.keySet()));
    }

    @Test
    void summaryStatesTheFiguresReadably() {
        CostEstimate e = CostEstimate.of(List.of(new int[] {1000}, new int[] {200}), 0, 0, 512, OptionalInt.of(4), List.of(0.008))
                .withThroughput(new CostEstimate.Throughput(1, 20, 3, "cpu", 2, "LoRA r 16 on q_proj, batch 4"));

        String s = e.summary();

        assertTrue(s.contains("examples: 2 (1 over max_seq_len 512"), s);
        assertTrue(s.contains("billed tokens: 2,848 (tokens per epoch x 4 epochs)"), s);
        assertTrue(s.contains("price at $0.008 per 1K tokens: $0.0228"), s);
        assertTrue(s.contains("projected training time on this machine: 2 min 22 s"), s); // 2,848 / 20 = 142.4 s
    }

    @Test
    void durationsAndDollarsRead() {
        assertEquals("42 s", CostEstimate.duration(42.2));
        assertEquals("0.25 s", CostEstimate.duration(0.25));
        assertEquals("3 min 20 s", CostEstimate.duration(200));
        assertEquals("2 h 05 min", CostEstimate.duration(7500));
        assertEquals("3 d 4 h", CostEstimate.duration(3 * 86_400 + 4 * 3600 + 100));
        assertEquals("1,234.57", CostEstimate.dollars(1234.567));
        assertEquals("0.0012", CostEstimate.dollars(0.00123));
        assertEquals("0.08", CostEstimate.rate(0.080));
    }

    @Test
    void nonsenseInputsAreBugs() {
        assertThrows(IllegalArgumentException.class, () -> CostEstimate.of(List.of(), 0, 0, 512, OptionalInt.empty(), List.of()));
        assertThrows(IllegalArgumentException.class, () -> CostEstimate.of(List.of(new int[] {1}), 0, 0, 512, OptionalInt.of(0), List.of()));
    }
}
