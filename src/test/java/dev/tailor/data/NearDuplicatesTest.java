package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class NearDuplicatesTest {
    /** 60 words of one topic; different seeds give unrelated texts. */
    private static String text(int seed) {
        return DataValidatorTest.words(seed, 60);
    }

    @Test
    void clustersTextsThatDifferInAWordOrInCaseAndPunctuation() {
        NearDuplicates near = new NearDuplicates();
        near.add(1, text(1));
        near.add(2, text(2));
        near.add(3, text(1).replaceFirst("w\\d+", "other"));
        near.add(4, text(1).toUpperCase().replace(" ", ", "));
        near.add(5, text(3));
        near.add(6, text(2) + " and a tail");

        assertEquals(List.of(List.of(1, 3, 4), List.of(2, 6)), near.clusters());
    }

    @Test
    void unrelatedTextsAreNotClustered() {
        NearDuplicates near = new NearDuplicates();
        IntStream.range(0, 300).forEach(i -> near.add(i + 1, text(100 + i)));

        assertEquals(List.of(), near.clusters());
    }

    /** The signature estimate against the exact Jaccard similarity of the 3-gram sets, computed here independently. */
    @Test
    void signaturesEstimateJaccardSimilarity() {
        String a = text(5);
        String[] words = a.split(" ");
        String b = IntStream.range(0, words.length).mapToObj(i -> i % 3 == 0 ? "x" + i : words[i]).collect(Collectors.joining(" "));
        double exact = jaccard(grams(a), grams(b));
        NearDuplicates near = new NearDuplicates();
        near.add(1, a);
        near.add(2, b);

        double estimate = NearDuplicates.similarity(signature(a), signature(b));

        assertTrue(exact < 0.5, "the edit changes most 3-grams: " + exact);
        assertTrue(Math.abs(estimate - exact) < 0.27, estimate + " vs " + exact); // 3 standard deviations for 32 hashes
        assertEquals(List.of(), near.clusters());
    }

    private static int[] signature(String text) {
        NearDuplicates one = new NearDuplicates();
        one.add(1, text);
        one.add(2, text);
        assertEquals(List.of(List.of(1, 2)), one.clusters());
        return NearDuplicates.signature(text);
    }

    private static Set<String> grams(String text) {
        String[] w = text.split(" ");
        Set<String> grams = new HashSet<>();
        for (int i = 0; i + 2 < w.length; i++) {
            grams.add(w[i] + " " + w[i + 1] + " " + w[i + 2]);
        }
        return grams;
    }

    private static double jaccard(Set<String> a, Set<String> b) {
        Set<String> both = new HashSet<>(a);
        both.retainAll(b);
        Set<String> either = new HashSet<>(a);
        either.addAll(b);
        return both.size() / (double) either.size();
    }
}
