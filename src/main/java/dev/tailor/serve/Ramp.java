package dev.tailor.serve;

import java.time.Duration;
import java.time.Instant;

/**
 * A gradual start: from {@code start} over {@code duration}, every non-control variant's share
 * grows linearly from 0 to its full weight; what it does not take yet goes to the control.
 */
public record Ramp(Instant start, Duration duration) {

    public Ramp {
        if (duration.toMillis() <= 0) {
            throw new IllegalArgumentException("a ramp lasts at least a millisecond, got " + duration);
        }
    }

    /** How far the ramp is at {@code now}: 0 before the start, 1 from start + duration on. */
    public double fraction(Instant now) {
        double elapsed = Duration.between(start, now).toMillis();
        return Math.min(1.0, Math.max(0.0, elapsed / duration.toMillis()));
    }
}
