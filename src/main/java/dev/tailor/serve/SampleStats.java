package dev.tailor.serve;

/**
 * Count, mean and sample variance (n - 1 denominator) of a set of scores.
 *
 * @param variance NaN below two values
 */
public record SampleStats(long count, double mean, double variance) {
    public static final SampleStats EMPTY = new SampleStats(0, Double.NaN, Double.NaN);

    /** Welford's running mean and variance: one pass, no cancellation in sum(x^2) - n mean^2. */
    static final class Accumulator {
        private long count;
        private double mean;
        private double sumSquares;

        void add(double x) {
            count++;
            double delta = x - mean;
            mean += delta / count;
            sumSquares += delta * (x - mean);
        }

        SampleStats stats() {
            return count == 0 ? EMPTY : new SampleStats(count, mean, count < 2 ? Double.NaN : sumSquares / (count - 1));
        }
    }
}
