package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LengthHistogramTest {
    @Test
    void binWidthsAreOneTwoOrFiveTimesAPowerOfTen() {
        assertEquals(List.of(1, 2, 5, 5, 10, 20, 50, 200, 1000),
                List.of(1, 2, 3, 5, 6, 11, 40, 101, 1000).stream().map(LengthHistogram::niceWidth).toList());
    }

    @Test
    void countsEachLengthInItsBin() {
        LengthHistogram small = LengthHistogram.of(new int[] {0, 5, 39, 5}, "characters");
        LengthHistogram wide = LengthHistogram.of(new int[] {100, 149, 150, 1000}, "tokens");

        assertEquals(1, small.binWidth(), "max 39: 40 bins of 1");
        assertEquals(40, small.counts().length);
        assertEquals(List.of(1, 2, 1), List.of(small.counts()[0], small.counts()[5], small.counts()[39]));
        assertEquals(50, wide.binWidth(), "max 1000: at most 40 bins needs 26 per bin, rounded up to 50");
        int[] expected = new int[21];
        expected[2] = 2; // 100 and 149 are in [100, 150)
        expected[3] = 1;
        expected[20] = 1;
        assertArrayEquals(expected, wide.counts());
        assertEquals(4, wide.total());
        assertNull(LengthHistogram.of(new int[0], "tokens"));
    }

    @Test
    void usesTokensWhenTheyWereCounted() {
        ValidationReport withTokens = new ValidationReport("chat", 2, List.of(), List.of(), Map.of(), new int[] {500, 900}, new int[] {3, 7});
        ValidationReport withoutTokens = new ValidationReport("chat", 2, List.of(), List.of(), Map.of(), new int[] {500, 900}, null);

        assertEquals("tokens", LengthHistogram.of(withTokens).unit());
        assertEquals(2, LengthHistogram.of(withTokens).total());
        assertEquals("characters", LengthHistogram.of(withoutTokens).unit());
        assertEquals(50, LengthHistogram.of(withoutTokens).binWidth());
    }
}
