package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.CheckItem.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checklist statuses for crafted files: each threshold from both sides. */
class ChecklistTest {
    @TempDir
    Path dir;

    DataReport report(String train) throws IOException {
        return report(train, null);
    }

    DataReport report(String train, String validation) throws IOException {
        Path trainFile = Files.writeString(dir.resolve("train.jsonl"), train);
        Path validationFile = validation == null ? null : Files.writeString(dir.resolve("valid.jsonl"), validation);
        return DataReport.build(trainFile, validationFile, null, 512);
    }

    static CheckItem row(DataReport report, String item) {
        return report.checklist().stream().filter(r -> r.item().equals(item)).findFirst().orElseThrow(() -> new AssertionError(item));
    }

    static Status status(DataReport report, String item) {
        return row(report, item).status();
    }

    /** The first n lines of a chats(...) file, then copies of its first lines up to total lines. */
    static String withCopies(int distinct, int total) {
        List<String> lines = DataValidatorTest.chats(distinct, "S").lines().toList();
        return IntStream.range(0, total).mapToObj(i -> lines.get(i % distinct)).collect(Collectors.joining("\n", "", "\n"));
    }

    /** Classification-style chats: the user text differs per line, the answer is the label. */
    static String labelled(String... labels) {
        return IntStream.range(0, labels.length).mapToObj(i -> LeakageTest.chat("Classify.", DataValidatorTest.words(i, 12), labels[i]))
                .collect(Collectors.joining());
    }

    static String[] labels(int... countsPerLabel) {
        return IntStream.range(0, countsPerLabel.length).boxed()
                .flatMap(l -> IntStream.range(0, countsPerLabel[l]).mapToObj(i -> "label" + l)).toArray(String[]::new);
    }

    @Test
    void aCleanFileIsOkWhereItCanBeCheckedAndSaysWhatWasNotChecked() throws IOException {
        DataReport report = report(DataValidatorTest.chats(120, "You are terse."));

        assertEquals(List.of("consistency", "diversity", "accuracy", "completeness", "balance", "length", "leakage"),
                report.checklist().stream().map(CheckItem::item).toList());
        assertEquals(List.of(Status.OK, Status.OK, Status.OK, Status.OK, Status.SKIP, Status.SKIP, Status.SKIP),
                report.checklist().stream().map(CheckItem::status).toList());
        assertTrue(row(report, "diversity").evidence().contains("120 distinct prompts of 120 (100%)"), row(report, "diversity").toString());
        assertTrue(row(report, "leakage").evidence().get(0).startsWith("pass --validation FILE"));
        assertTrue(report.usable());
    }

    @Test
    void diversityWarnsAtFortyPercentCopiesAndFailsAtHalf() throws IOException {
        DataReport forty = report(withCopies(60, 100));
        DataReport sixty = report(withCopies(40, 100));
        DataReport four = report(withCopies(96, 100));

        assertEquals(Status.WARN, status(forty, "diversity"));
        assertTrue(row(forty, "diversity").evidence().contains("40% of the examples repeat an earlier one; deduplicate (tailor data dedupe) and add different cases"),
                row(forty, "diversity").toString());
        assertTrue(row(forty, "diversity").evidence().contains("line 1: lines 1, 61 are identical examples; remove the copies (tailor data dedupe)"));
        assertEquals(Status.FAIL, status(sixty, "diversity"));
        assertEquals(Status.OK, status(four, "diversity"), "4% copies are reported, not flagged");
        assertTrue(row(four, "diversity").evidence().get(0).startsWith("copies of an earlier example: 4 word for word, 0 near-duplicates"));
    }

    @Test
    void askingTheSameQuestionsOverAndOverIsALackOfDiversity() throws IOException {
        String repeated = IntStream.range(0, 60).mapToObj(i -> LeakageTest.chat("S", DataValidatorTest.words(i % 40, 12),
                DataValidatorTest.words(1000 + i, 8))).collect(Collectors.joining()); // 40 questions, 60 different answers

        DataReport report = report(repeated);

        assertEquals(Status.WARN, status(report, "diversity"));
        assertTrue(row(report, "diversity").evidence().contains("40 distinct prompts of 60 (67%): the same questions are asked over and over"));
        assertEquals(Status.WARN, status(report, "accuracy"), "and each repeated question has two answers");
        assertTrue(row(report, "accuracy").evidence().get(0).startsWith("20 prompts appear with different answers, so the model learns both:"
                + " keep the right one (lines 1, 41; lines 2, 42; lines 3, 43)"), row(report, "accuracy").toString());
    }

    @Test
    void completenessFollowsTheGuidesCounts() throws IOException {
        assertEquals(Status.FAIL, status(report(DataValidatorTest.chats(5, "S")), "completeness"));
        DataReport twenty = report(DataValidatorTest.chats(20, "S"));
        assertEquals(Status.WARN, status(twenty, "completeness"));
        assertEquals("20 valid examples: under 50 rarely produces meaningful improvements; aim for 100-500",
                row(twenty, "completeness").evidence().get(0));
        assertEquals(Status.OK, status(report(DataValidatorTest.chats(60, "S")), "completeness"));
        DataReport noSystem = report(DataValidatorTest.chats(60, null));
        assertEquals(Status.WARN, status(noSystem, "completeness"));
        assertTrue(row(noSystem, "completeness").evidence().contains("60 of 60 examples have no system message"));
    }

    @Test
    void balanceWarnsWhenOneClassDominatesOrOneIsRareAndSkipsOpenEndedSets() throws IOException {
        DataReport dominated = report(labelled(labels(31, 10, 10)));
        DataReport rare = report(labelled(labels(25, 25, 25, 4)));
        DataReport even = report(labelled(labels(20, 20, 20)));

        assertEquals(Status.WARN, status(dominated, "balance"));
        assertEquals("3 distinct answers in 51 short answers; largest \"label0\" 31 (61%), smallest \"label2\" 10 (20%)",
                row(dominated, "balance").evidence().get(0));
        assertEquals(Status.WARN, status(rare, "balance"));
        assertTrue(row(rare, "balance").evidence().get(1).startsWith("the largest class is 5x or more the smallest"));
        assertEquals(Status.OK, status(even, "balance"));
        assertEquals(Status.SKIP, status(report(DataValidatorTest.chats(60, "S")), "balance"));
        assertTrue(even.classificationStyle());
    }

    @Test
    void emptyAnswersFailAccuracyAndBrokenLinesFailConsistency() throws IOException {
        String emptyAnswer = DataValidatorTest.chats(60, "S") + LeakageTest.chat("S", "question", "");
        String brokenLine = DataValidatorTest.chats(60, "S") + "{\"messages\": [\n";

        DataReport empty = report(emptyAnswer);
        DataReport broken = report(brokenLine);

        assertEquals(Status.FAIL, status(empty, "accuracy"));
        assertEquals("1 empty or missing answers or messages (empty_content 1)", row(empty, "accuracy").evidence().get(0));
        assertTrue(row(empty, "accuracy").evidence().get(1).startsWith("line 61: messages[2] has empty \"content\""));
        assertEquals(Status.OK, status(empty, "consistency"));
        assertEquals(Status.FAIL, status(broken, "consistency"));
        assertTrue(row(broken, "consistency").evidence().get(1).startsWith("1 errors break the format (invalid_json 1)"));
        assertEquals(Status.OK, status(broken, "accuracy"));
        assertTrue(!empty.usable() && !broken.usable());
    }

    @Test
    void differentSystemPromptsAreInconsistent() throws IOException {
        String mixed = DataValidatorTest.chats(60, "Prompt A") + DataValidatorTest.chats(70, "Prompt B").lines().skip(60)
                .collect(Collectors.joining("\n", "", "\n"));

        DataReport report = report(mixed);

        assertEquals(Status.WARN, status(report, "consistency"));
        assertTrue(row(report, "consistency").evidence().contains("2 different system prompts"));
    }

    /** A 40-word question: one word changed keeps 38 of its 40 3-grams. */
    static String longQuestion(int seed) {
        return LeakageTest.chat("S", DataValidatorTest.words(seed, 40), "answer number " + seed);
    }

    @Test
    void leakageFailsOnExactPromptsWarnsOnNearOnesAndChecksTheValidationFile() throws IOException {
        String train = IntStream.range(0, 60).mapToObj(ChecklistTest::longQuestion).collect(Collectors.joining());
        String unrelated = IntStream.range(60, 70).mapToObj(ChecklistTest::longQuestion).collect(Collectors.joining());
        String line5 = longQuestion(4);
        String nearLine5 = line5.replaceFirst("w\\d+\"}, \\{\"role\": \"assistant\"", "other\"}, {\"role\": \"assistant\""); // the question's last word

        DataReport exact = report(train, unrelated + line5);
        DataReport near = report(train, nearLine5);
        DataReport clean = report(train, unrelated);
        DataReport otherFormat = report(train, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"}\n");

        assertEquals(Status.FAIL, status(exact, "leakage"));
        assertEquals("1 of 11 validation prompts (9%) are training prompts word for word, e.g. train line 5 <-> validation line 11",
                row(exact, "leakage").evidence().get(0));
        assertTrue(!nearLine5.equals(line5));
        assertEquals(Status.WARN, status(near, "leakage"), row(near, "leakage").toString());
        assertEquals(Status.OK, status(clean, "leakage"));
        assertEquals(Status.OK, status(clean, "validation file"));
        assertEquals(Status.FAIL, status(otherFormat, "validation file"));
        assertEquals(List.of("1 errors: training stops at the first; tailor data validate " + dir.resolve("valid.jsonl") + " lists them",
                "its format is completion, the training file's chat: use one format for both"),
                row(otherFormat, "validation file").evidence().subList(1, 3));
        assertTrue(!otherFormat.usable());
    }
}
