package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Stop-string search and hold-back, against hand-worked cases. */
class StopStringsTest {
    private static StopStrings stops(String... s) {
        return new StopStrings(List.of(s));
    }

    @Test
    void findsTheEarliestMatchAcrossSeveralStopStrings() {
        StopStrings s = stops("world", "lo", "xyz");
        assertEquals(3, s.find("Hello world", 0)); // "lo" at 3 beats "world" at 6
        assertEquals(6, stops("world", "xyz").find("Hello world", 0));
        assertEquals(1, stops("cd", "bcd").find("abcde", 0), "the earlier start wins, not the first-listed stop");
        assertEquals(-1, stops("world", "xyz").find("Hello wor", 0));
        assertEquals(-1, stops("a").find("", 0));
    }

    @Test
    void findsAMatchThatSpansThePreviousBoundary() {
        // "world" starts at 6; new text begins at 9 ("ld"), the match straddles the boundary
        assertEquals(6, stops("world").find("Hello world", 9));
        assertEquals(6, stops("world").find("Hello world", 10));
        assertEquals(0, stops("abc").find("abc", 2));
    }

    @Test
    void ignoresMatchesThatEndBeforeFromAndFindsLaterOnes() {
        // the "abc" at 0 ends at index 2, before from = 3: already handled earlier, so the next one counts
        assertEquals(3, stops("abc").find("abcabc", 3));
        assertEquals(-1, stops("abc").find("abcxx", 3));
        assertEquals(4, stops("ab", "xx").find("abxxab", 4));
    }

    @Test
    void safeLengthHoldsBackTheLongestSuffixThatStartsAStopString() {
        assertEquals(6, stops("world").safeLength("Hello wor")); // holds "wor"
        assertEquals(6, stops("world").safeLength("Hello w")); // holds "w"
        assertEquals(2, stops("xyz", "ab").safeLength("xya")); // "a" for "ab" (after nothing for "xyz")
        assertEquals(1, stops("c", "bcd").safeLength("abc")); // "c" completes (find's job); "bc" starts "bcd"
        assertEquals(3, stops("c", "bcd").safeLength("abd")); // nothing to hold
        assertEquals(3, stops("ab", "aab").safeLength("xxxaa")); // "aa" for "aab" beats "a" for "ab"
        assertEquals(3, stops("aab", "ab").safeLength("xxxaa")); // order of the stops does not matter
        assertEquals(0, stops("hello").safeLength("hell")); // the whole text may still become the stop
        assertEquals(0, stops("xyz").safeLength(""));
        assertEquals(11, stops("world").safeLength("Hello world")); // a complete stop is not a held prefix
        assertEquals(4, stops("<|im_end|>").safeLength("Done<|im"));
    }

    @Test
    void withoutStopStringsEverythingIsSafe() {
        StopStrings none = stops();
        assertEquals(-1, none.find("anything", 0));
        assertEquals(8, none.safeLength("anything"));
    }
}
