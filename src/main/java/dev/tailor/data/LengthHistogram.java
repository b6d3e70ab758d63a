package dev.tailor.data;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How example lengths are distributed: counts of examples in bins of {@code binWidth} starting at
 * 0 (bin i holds lengths in [i * binWidth, (i + 1) * binWidth)), in tokens when a model counted
 * them, otherwise in characters. The width is 1, 2 or 5 times a power of ten, at most
 * {@link #MAX_BINS} bins.
 */
public record LengthHistogram(String unit, int binWidth, int[] counts) {
    public static final int MAX_BINS = 40;

    /** The histogram of a validated file: tokens when counted, else characters; null without a valid example. */
    public static LengthHistogram of(ValidationReport report) {
        boolean tokens = report.tokenLengths() != null && report.tokenLengths().length > 0;
        return of(tokens ? report.tokenLengths() : report.characterLengths(), tokens ? "tokens" : "characters");
    }

    /** The histogram of the lengths; null when there are none. */
    static LengthHistogram of(int[] lengths, String unit) {
        if (lengths == null || lengths.length == 0) {
            return null;
        }
        int max = Arrays.stream(lengths).max().orElseThrow();
        int width = niceWidth((max + MAX_BINS) / MAX_BINS); // ceil((max + 1) / MAX_BINS)
        int[] counts = new int[max / width + 1];
        for (int length : lengths) {
            counts[length / width]++;
        }
        return new LengthHistogram(unit, width, counts);
    }

    /** The smallest of 1, 2, 5, 10, 20, 50, ... that is at least min. */
    static int niceWidth(int min) {
        for (long scale = 1; ; scale *= 10) {
            for (int step : new int[] {1, 2, 5}) {
                if (step * scale >= min) {
                    return (int) (step * scale);
                }
            }
        }
    }

    /** Examples counted. */
    public int total() {
        return Arrays.stream(counts).sum();
    }

    Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("unit", unit);
        json.put("bin_width", binWidth);
        json.put("counts", counts);
        return json;
    }
}
