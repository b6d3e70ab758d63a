package dev.tailor.serve;

import org.apache.commons.math3.distribution.TDistribution;

/** Confidence intervals of a mean and Welch's t-test, on the t distribution. */
final class Significance {
    private Significance() {}

    /**
     * Welch's two-sided t-test of {@code variant}'s mean against {@code control}'s.
     *
     * @param difference variant mean - control mean
     * @param df         Welch-Satterthwaite degrees of freedom
     */
    record WelchTest(double difference, double t, double df, double pValue) {}

    /** The two-sided interval around the mean at {@code level} (e.g. 0.95); null below two values. */
    static double[] meanInterval(SampleStats s, double level) {
        if (s.count() < 2) {
            return null;
        }
        double quantile = t(s.count() - 1).inverseCumulativeProbability(0.5 + level / 2);
        double half = quantile * Math.sqrt(s.variance() / s.count());
        return new double[] {s.mean() - half, s.mean() + half};
    }

    /**
     * The test, or null when it is undefined: fewer than two scores on a side, or no spread at
     * all (every score the same within each side).
     */
    static WelchTest welch(SampleStats variant, SampleStats control) {
        if (variant.count() < 2 || control.count() < 2) {
            return null;
        }
        double a = variant.variance() / variant.count();
        double b = control.variance() / control.count();
        if (a + b == 0) {
            return null;
        }
        double difference = variant.mean() - control.mean();
        double t = difference / Math.sqrt(a + b);
        double df = (a + b) * (a + b) / (a * a / (variant.count() - 1) + b * b / (control.count() - 1));
        // the lower tail of -|t| keeps small p-values exact, where 1 - cdf(|t|) would round to 0
        double p = 2 * t(df).cumulativeProbability(-Math.abs(t));
        return new WelchTest(difference, t, df, Math.min(1, p));
    }

    private static TDistribution t(double df) {
        return new TDistribution(null, df);
    }
}
