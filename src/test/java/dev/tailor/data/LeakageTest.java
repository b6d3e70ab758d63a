package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LeakageTest {
    @TempDir
    Path dir;

    /** A 60-word prompt; different seeds share no 3-grams. */
    private static String prompt(int seed) {
        return DataValidatorTest.words(seed, 60);
    }

    /** The prompt with its n-th word replaced: 55 of its 58 3-grams survive inside, 57 at an end (Jaccard 0.90, 0.97). */
    private static String edited(String prompt, int n) {
        String[] words = prompt.split(" ");
        words[n] = "changed";
        return String.join(" ", words);
    }

    private static PromptIndex index(List<String> prompts) {
        PromptIndex index = new PromptIndex(true);
        for (int i = 0; i < prompts.size(); i++) {
            index.add(i + 1, prompts.get(i), null);
        }
        return index;
    }

    @Test
    void findsExactAndNearPairsAndNotUnrelatedPrompts() {
        List<String> train = IntStream.range(0, 50).mapToObj(LeakageTest::prompt).toList();
        PromptIndex validation = index(List.of(prompt(1000), prompt(3), edited(prompt(10), 15), prompt(1001)));

        Leakage leakage = Leakage.find(index(train), validation);

        assertEquals(4, leakage.validationPrompts());
        assertEquals(1, leakage.exact());
        assertEquals(1, leakage.near());
        assertEquals(2, leakage.pairs().size());
        Leakage.Pair exact = leakage.pairs().get(0);
        assertEquals(List.of(4, 2, true, 1.0), List.of(exact.trainLine(), exact.validationLine(), exact.exact(), exact.similarity()));
        Leakage.Pair near = leakage.pairs().get(1);
        assertEquals(List.of(11, 3, false), List.of(near.trainLine(), near.validationLine(), near.exact()));
        double expected = NearDuplicates.similarity(NearDuplicates.signature(train.get(10)), NearDuplicates.signature(edited(prompt(10), 15)));
        assertEquals(expected, near.similarity());
        assertTrue(near.similarity() >= NearDuplicates.THRESHOLD && near.similarity() < 1, String.valueOf(near.similarity()));
    }

    @Test
    void aRepeatedTrainingPromptPairsWithItsFirstLineAndBlankPromptsNeverLeak() {
        PromptIndex train = index(List.of(prompt(1), prompt(2), prompt(2), " "));
        PromptIndex validation = index(List.of(prompt(2), "", " "));

        Leakage leakage = Leakage.find(train, validation);

        assertEquals(1, leakage.validationPrompts(), "blank prompts are not indexed");
        assertEquals(List.of(new Leakage.Pair(2, 1, true, 1.0, null, null)), leakage.pairs());
    }

    /** LSH against a brute-force comparison of every validation prompt with every training prompt. */
    @Test
    void findsWhatComparingEveryPairFinds() {
        List<String> train = IntStream.range(0, 400).mapToObj(LeakageTest::prompt).toList();
        List<String> validation = IntStream.range(0, 60)
                .mapToObj(j -> j % 3 == 0 ? edited(train.get(j * 5), j % 2 == 0 ? 0 : 59) : j % 3 == 1 ? train.get(j * 5) : prompt(5000 + j)).toList();

        Leakage leakage = Leakage.find(index(train), index(validation));

        TreeMap<Integer, Integer> expected = new TreeMap<>(); // validation line -> the training line that is most similar
        for (int j = 0; j < validation.size(); j++) {
            int[] v = NearDuplicates.signature(validation.get(j));
            int best = -1;
            double bestSimilarity = 0;
            for (int i = 0; i < train.size(); i++) {
                double s = train.get(i).equals(validation.get(j)) ? 2 : NearDuplicates.similarity(NearDuplicates.signature(train.get(i)), v);
                if (s >= NearDuplicates.THRESHOLD && s > bestSimilarity) {
                    best = i;
                    bestSimilarity = s;
                }
            }
            if (best >= 0) {
                expected.put(j + 1, best + 1);
            }
        }
        assertEquals(40, expected.size(), "the planted copies and edits");
        assertEquals(expected, leakage.pairs().stream().collect(Collectors.toMap(Leakage.Pair::validationLine, Leakage.Pair::trainLine,
                (a, b) -> a, TreeMap::new)));
        assertEquals(20, leakage.exact());
        assertEquals(20, leakage.near());
    }

    @Test
    void readsTheFilesPromptsLeavingOutSystemPromptsAndShowsThemWithThePairs() throws IOException {
        String question = "How do I reset the password of my account when the email link has expired";
        String crash = "The app crashes every time I open it on my phone since the update of last week and I cannot work like";
        Path train = Files.writeString(dir.resolve("train.jsonl"), chat("Be brief.", "Where is my parcel from last week", "shipping")
                + chat("Be brief.", question, "account") + chat("Be brief.", crash + " this", "technical"));
        Path validation = Files.writeString(dir.resolve("valid.jsonl"), chat("You are a support bot.", question, "account")
                + chat("Be brief.", crash + " that", "technical")
                + chat("Be brief.", "My invoice shows a wrong amount of money", "billing"));

        DataReport report = DataReport.build(train, validation, null, 512);

        Leakage leakage = report.leakage();
        assertEquals(List.of(2, 3), leakage.pairs().stream().map(Leakage.Pair::trainLine).toList());
        assertEquals(List.of(1, 2), leakage.pairs().stream().map(Leakage.Pair::validationLine).toList());
        assertEquals(List.of(true, false), leakage.pairs().stream().map(Leakage.Pair::exact).toList(),
                "another system prompt does not hide a repeated question");
        assertEquals("user: " + question, leakage.pairs().get(0).trainPrompt());
        assertEquals("user: " + crash + " that", leakage.pairs().get(1).validationPrompt());
        assertNull(Leakage.find(new PromptIndex(true), new PromptIndex(true)).pairs().stream().findAny().orElse(null));
    }

    static String chat(String system, String user, String answer) {
        return "{\"messages\": [{\"role\": \"system\", \"content\": \"" + system + "\"}, {\"role\": \"user\", \"content\": \"" + user
                + "\"}, {\"role\": \"assistant\", \"content\": \"" + answer + "\"}]}\n";
    }
}
