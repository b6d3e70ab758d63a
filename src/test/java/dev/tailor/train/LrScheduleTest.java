package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import org.junit.jupiter.api.Test;

/**
 * Values worked out by hand from transformers' lr_lambda formulas, for peak 1e-3, 100 steps and
 * warmup_ratio 0.1 (warmup = ceil(100 * 0.1) = 10 steps):
 * warmup (all kinds): step / max(1, warmup);
 * linear: max(0, (total - step) / max(1, total - warmup));
 * cosine: progress = (step - warmup) / max(1, total - warmup), max(0, 0.5 * (1 + cos(pi * 0.5 * 2 * progress)));
 * constant: 1.
 */
class LrScheduleTest {
    static final double PEAK = 1e-3;
    static final double TOLERANCE = 1e-15;

    @Test
    void linear() {
        LrSchedule s = LrSchedule.of("linear", PEAK, 0.1, 100);
        assertEquals(10, s.warmupSteps());
        assertEquals(0.0, s.lr(0), TOLERANCE);               // 0 / 10
        assertEquals(5e-4, s.lr(5), TOLERANCE);              // 5 / 10
        assertEquals(1e-3, s.lr(10), TOLERANCE);             // (100 - 10) / 90 = 1
        assertEquals(5e-4, s.lr(55), TOLERANCE);             // (100 - 55) / 90 = 0.5
        assertEquals(1.1111111111111112e-5, s.lr(99), TOLERANCE); // (100 - 99) / 90 = 1/90
        assertEquals(0.0, s.lr(100), TOLERANCE);             // (100 - 100) / 90
        assertEquals(0.0, s.lr(150), TOLERANCE);             // max(0, -50 / 90)
    }

    @Test
    void cosine() {
        LrSchedule s = LrSchedule.of("cosine", PEAK, 0.1, 100);
        assertEquals(0.0, s.lr(0), TOLERANCE);               // 0 / 10
        assertEquals(5e-4, s.lr(5), TOLERANCE);              // 5 / 10
        assertEquals(1e-3, s.lr(10), TOLERANCE);             // progress 0: 0.5 * (1 + cos 0) = 1
        assertEquals(7.5e-4, s.lr(40), TOLERANCE);           // progress 1/3: 0.5 * (1 + cos(pi/3)) = 0.75
        assertEquals(5e-4, s.lr(55), TOLERANCE);             // progress 1/2: 0.5 * (1 + cos(pi/2)) = 0.5
        assertEquals(3.0458649045211894e-7, s.lr(99), TOLERANCE); // progress 89/90: 0.5 * (1 - cos(pi/90)) = sin^2(pi/180)
        assertEquals(0.0, s.lr(100), TOLERANCE);             // progress 1: 0.5 * (1 + cos(pi)) = 0
    }

    @Test
    void constantWithWarmup() {
        LrSchedule s = LrSchedule.of("constant", PEAK, 0.1, 100);
        assertEquals(0.0, s.lr(0), TOLERANCE);
        assertEquals(5e-4, s.lr(5), TOLERANCE);
        assertEquals(1e-3, s.lr(10), TOLERANCE);
        assertEquals(1e-3, s.lr(55), TOLERANCE);
        assertEquals(1e-3, s.lr(99), TOLERANCE);
    }

    @Test
    void withoutWarmupTheFirstStepUsesThePeak() {
        assertEquals(1e-3, LrSchedule.of("linear", PEAK, 0.0, 100).lr(0), TOLERANCE);   // 100 / 100
        assertEquals(1e-3, LrSchedule.of("cosine", PEAK, 0.0, 100).lr(0), TOLERANCE);   // cos 0
        assertEquals(1e-3, LrSchedule.of("constant", PEAK, 0.0, 100).lr(0), TOLERANCE);
        assertEquals(1e-5, LrSchedule.of("linear", PEAK, 0.0, 100).lr(99), TOLERANCE);  // 1 / 100
    }

    @Test
    void warmupRoundsUpLikeTransformersInDoubles() {
        assertEquals(8, LrSchedule.of("linear", PEAK, 0.07, 100).warmupSteps()); // 100 * 0.07 = 7.000000000000001
        assertEquals(3, LrSchedule.of("linear", PEAK, 0.03, 100).warmupSteps()); // 3.0 exactly
        assertEquals(1, LrSchedule.of("linear", PEAK, 0.1, 7).warmupSteps());    // 0.7000000000000001
        assertEquals(0, LrSchedule.of("linear", PEAK, 0.0, 7).warmupSteps());
        // a one-step run with warmup: step 0 is warmup's 0 / 1 (transformers trains it with lr 0 too)
        assertEquals(0.0, LrSchedule.of("linear", PEAK, 0.5, 1).lr(0), TOLERANCE);
    }

    @Test
    void unknownKindListsTheValidOnes() {
        TailorException e = assertThrows(TailorException.class, () -> LrSchedule.of("cosine_with_restarts", PEAK, 0.1, 100));
        assertTrue(e.getMessage().contains("cosine_with_restarts"), e.getMessage());
        assertTrue(e.getMessage().contains("linear, cosine, constant"), e.getMessage());
    }

    @Test
    void rejectsBadNumbers() {
        assertThrows(TailorException.class, () -> LrSchedule.of("linear", PEAK, 1.5, 100));
        assertThrows(TailorException.class, () -> LrSchedule.of("linear", PEAK, -0.1, 100));
        assertThrows(TailorException.class, () -> LrSchedule.of("linear", -1e-3, 0.1, 100));
        assertThrows(TailorException.class, () -> LrSchedule.of("linear", PEAK, 0.1, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("linear", PEAK, 0.1, 10).lr(-1));
    }
}
