package dev.tailor.data;

import static dev.tailor.data.TransformTestData.chat;
import static dev.tailor.data.TransformTestData.lines;
import static dev.tailor.data.TransformTestData.words;
import static dev.tailor.data.TransformTestData.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSplitTest {
    @TempDir
    Path dir;

    /** n chats with unrelated 60-word questions: no two are near-duplicates. */
    private static List<String> distinct(int n, int seed) {
        return IntStream.range(0, n).mapToObj(i -> chat(words(seed + i, 60), "answer " + i)).collect(Collectors.toList());
    }

    private DataSplit.Result split(Path input, double ratio, long seed, boolean stratify) {
        return DataSplit.split(input, dir.resolve("train.jsonl"), dir.resolve("valid.jsonl"), ratio, seed, stratify);
    }

    @Test
    void theSameSeedGivesTheSameSplitAndEverySideKeepsFileOrder() throws IOException {
        List<String> records = distinct(50, 0);
        Path input = write(dir.resolve("data.jsonl"), records);
        byte[] before = Files.readAllBytes(input);

        DataSplit.Result first = split(input, 0.1, 42, false);
        List<String> train = lines(dir.resolve("train.jsonl"));
        List<String> valid = lines(dir.resolve("valid.jsonl"));
        split(input, 0.1, 42, false);
        List<String> again = lines(dir.resolve("valid.jsonl"));
        split(input, 0.1, 7, false);
        List<String> otherSeed = lines(dir.resolve("valid.jsonl"));

        assertEquals(45, first.train());
        assertEquals(5, first.validation());
        assertEquals(5, valid.size());
        assertEquals(valid, again);
        assertNotEquals(valid, otherSeed);
        assertEquals(5, otherSeed.size());
        List<String> both = new ArrayList<>(train);
        both.addAll(valid);
        both.sort(null);
        List<String> sortedRecords = new ArrayList<>(records);
        sortedRecords.sort(null);
        assertEquals(sortedRecords, both, "every record on exactly one side, unchanged");
        assertEquals(records.stream().filter(train::contains).toList(), train, "input order kept");
        assertEquals(records.stream().filter(valid::contains).toList(), valid, "input order kept");
        assertArrayEquals(before, Files.readAllBytes(input));
    }

    @Test
    void theRatioIsRoundedAndASideLeftEmptyIsRefused() throws IOException {
        Path input = write(dir.resolve("data.jsonl"), distinct(10, 100));

        assertEquals(3, split(input, 0.25, 42, false).validation()); // 2.5 rounds up
        assertEquals(1, split(input, 0.06, 42, false).validation());
        TailorException none = assertThrows(TailorException.class, () -> split(input, 0.04, 42, false));
        TailorException all = assertThrows(TailorException.class, () -> split(input, 0.96, 42, false));
        TailorException outside = assertThrows(TailorException.class, () -> split(input, 1.0, 42, false));

        assertEquals("--validation-ratio 0.04 of 10 examples rounds to no validation example; raise the ratio or add examples", none.getMessage());
        assertEquals("--validation-ratio 0.96 of 10 examples leaves no training example; lower the ratio", all.getMessage());
        assertTrue(outside.getMessage().contains("between 0 and 1"), outside.getMessage());
    }

    /**
     * Exact copies and near-duplicates (one word changed in 60) of a few records: for several seeds,
     * no pair across the split is similar by the exact 3-gram Jaccard similarity computed here.
     */
    @Test
    void duplicatesAndNearDuplicatesNeverCrossTheSplit() throws IOException {
        List<String> records = new ArrayList<>(distinct(30, 200));
        for (int k = 0; k < 5; k++) { // records 0-4 get an exact copy and two near copies (a word changed, a word added)
            String question = TransformTestData.user(records.get(k));
            records.add(records.get(k));
            records.add(chat(question.replaceFirst("w\\d+$", "changed" + k), "answer " + k));
            records.add(chat(question + " again", "answer " + k));
        }
        Collections.shuffle(records, new java.util.Random(3));
        Path input = write(dir.resolve("data.jsonl"), records);

        for (long seed = 0; seed < 8; seed++) {
            DataSplit.Result r = split(input, 0.3, seed, false);
            List<String> train = lines(dir.resolve("train.jsonl"));
            List<String> valid = lines(dir.resolve("valid.jsonl"));

            assertEquals(5, r.groups(), "each of the 5 records with its copies");
            assertEquals(20, r.examplesInGroups());
            assertEquals(14, r.validation(), "round(45 x 0.3) = 14 (13.5 rounds up); single records fill it exactly");
            for (String v : valid) {
                for (String t : train) {
                    double similarity = TransformTestData.jaccard(TransformTestData.user(v), TransformTestData.user(t));
                    assertTrue(similarity < 0.5, "seed " + seed + ": similar records on both sides:\n" + v + "\n" + t);
                }
            }
        }
    }

    /**
     * Classes of 20, 10, 3 and 1 records. Ratio 0.2: round(4.0) = 4, round(2.0) = 2, round(0.6) = 1,
     * and 0 for the single record; ratio 0.9: 18, 9, round(2.7) = 3 capped at 3 - 1 = 2, and 0.
     */
    @Test
    void stratificationKeepsEachAnswersShareWithHandComputedCounts() throws IOException {
        List<String> records = new ArrayList<>();
        Map<String, Integer> sizes = Map.of("alpha", 20, "beta", 10, "gamma", 3, "delta", 1);
        int seed = 300;
        for (String answer : List.of("alpha", "beta", "gamma", "delta")) {
            for (int i = 0; i < sizes.get(answer); i++) {
                records.add(chat(words(seed++, 30), answer));
            }
        }
        Collections.shuffle(records, new java.util.Random(5));
        Path input = write(dir.resolve("data.jsonl"), records);

        for (long s = 0; s < 4; s++) {
            DataSplit.Result r = split(input, 0.2, s, true);

            assertEquals(List.of(new DataSplit.ClassSplit("alpha", 16, 4), new DataSplit.ClassSplit("beta", 8, 2),
                    new DataSplit.ClassSplit("gamma", 2, 1), new DataSplit.ClassSplit("delta", 1, 0)), r.classes());
            assertEquals(Map.of("alpha", 4, "beta", 2, "gamma", 1), answerCounts(lines(dir.resolve("valid.jsonl"))));
            assertEquals(Map.of("alpha", 16, "beta", 8, "gamma", 2, "delta", 1), answerCounts(lines(dir.resolve("train.jsonl"))));
        }
        DataSplit.Result high = split(input, 0.9, 42, true);
        assertEquals(List.of(new DataSplit.ClassSplit("alpha", 2, 18), new DataSplit.ClassSplit("beta", 1, 9),
                new DataSplit.ClassSplit("gamma", 1, 2), new DataSplit.ClassSplit("delta", 1, 0)), high.classes());
    }

    @Test
    void stratifyingNeedsRepeatedAnswers() throws IOException {
        Path text = write(dir.resolve("text.jsonl"), List.of("{\"text\":\"one two three\"}", "{\"text\":\"four five six\"}"));
        Path unique = write(dir.resolve("unique.jsonl"), distinct(10, 400));

        TailorException noAnswer = assertThrows(TailorException.class, () -> split(text, 0.5, 42, true));
        TailorException noRepeat = assertThrows(TailorException.class, () -> split(unique, 0.2, 42, true));

        assertEquals(text + ":1: no assistant answer to stratify by (text data); split without --stratify-by", noAnswer.getMessage());
        assertTrue(noRepeat.getMessage().startsWith("--stratify-by assistant: no final answer occurs twice"), noRepeat.getMessage());
        assertFalse(Files.exists(dir.resolve("train.jsonl")), "nothing written");
    }

    @Test
    void aFileThatIsOneDuplicateGroupCannotBeSplit() throws IOException {
        Path input = write(dir.resolve("data.jsonl"), Collections.nCopies(10, chat(words(1, 20), "same")));

        TailorException e = assertThrows(TailorException.class, () -> split(input, 0.1, 42, false));

        assertTrue(e.getMessage().startsWith(input + ": the records form duplicate groups larger than the validation target"), e.getMessage());
    }

    @Test
    void aFileWithAnErrorIsRefusedAtItsFirstBadLine() throws IOException {
        List<String> records = new ArrayList<>(distinct(5, 500));
        records.add(2, "{\"messages\":[{\"role\":\"human\",\"content\":\"hi\"}]}");
        Path input = write(dir.resolve("data.jsonl"), records);

        TailorException e = assertThrows(TailorException.class, () -> split(input, 0.2, 42, false));

        assertTrue(e.getMessage().startsWith(input + ":3: messages[0] has unknown role \"human\""), e.getMessage());
        assertTrue(e.getMessage().endsWith("(fix the file first: tailor data validate " + input + " lists every error)"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("valid.jsonl")));
    }

    private static Map<String, Integer> answerCounts(List<String> lines) {
        Map<String, Integer> counts = new HashMap<>();
        lines.forEach(l -> counts.merge(TransformTestData.answer(l), 1, Integer::sum));
        return counts;
    }
}
