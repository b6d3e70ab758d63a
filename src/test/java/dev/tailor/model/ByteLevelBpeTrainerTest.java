package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ByteLevelBpeTrainerTest {
    /**
     * "abc abc abd" splits into "abc", " abc", " abd". Pair counts: (a,b)=3, (b,c)=2, (Ġ,a)=2, (b,d)=1,
     * so "ab" first; then (Ġ,ab)=2 ties (ab,c)=2 and wins by its smaller left id (Ġ=220 < ab=256);
     * then all pairs count 1 and (ab,c) has the smallest ids.
     */
    @Test
    void mergesTheMostFrequentPairFirstAndBreaksTiesBySmallerIds() {
        ByteLevelBpeTrainer.Vocabulary vocabulary = ByteLevelBpeTrainer.train("abc abc abd", 259);

        assertEquals(List.of("a b", "Ġ ab", "ab c"), vocabulary.merges().stream().map(m -> m[0] + " " + m[1]).toList());
        assertEquals(List.of("ab", "Ġab", "abc"), vocabulary.tokens().subList(256, 259));
        assertEquals("a", vocabulary.tokens().get(64));
        assertEquals("Ġ", vocabulary.tokens().get(220));
    }

    @Test
    void spellsSpaceAndControlBytesAsGpt2Does() {
        assertEquals("Ġ", ByteLevelBpeTrainer.byteToUnicode(' '));
        assertEquals("Ċ", ByteLevelBpeTrainer.byteToUnicode('\n'));
        assertEquals("Ā", ByteLevelBpeTrainer.byteToUnicode(0));
        assertEquals("é", ByteLevelBpeTrainer.byteToUnicode(0xE9));
    }
}
