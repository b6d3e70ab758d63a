package dev.tailor.model;

import java.util.List;

/**
 * Stop-string handling for streamed text: where the first stop string starts, and how much of the
 * text is safe to emit now (a tail that could still grow into a stop string is held back).
 */
final class StopStrings {
    private final List<String> stops;

    StopStrings(List<String> stops) {
        this.stops = stops;
    }

    /** Index of the earliest complete stop string at or after {@code from}, or -1. */
    int find(String text, int from) {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, from - s.length() + 1));
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }

    /** Length of the prefix of {@code text} that cannot become part of a stop string. */
    int safeLength(String text) {
        int hold = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, text.length()); k > hold; k--) {
                if (text.endsWith(s.substring(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        return text.length() - hold;
    }
}
