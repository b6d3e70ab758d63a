package dev.tailor.cli;

import static dev.tailor.data.TransformTestData.chat;
import static dev.tailor.data.TransformTestData.words;
import static dev.tailor.data.TransformTestData.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSplitCommandTest {
    @TempDir
    Path dir;

    /** 12 "yes" and 8 "no" answers to unrelated questions, plus an exact copy of the first record. */
    private Path data() throws IOException {
        List<String> records = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            records.add(chat(words(i, 30), i < 12 ? "yes" : "no"));
        }
        records.add(records.get(0));
        return write(dir.resolve("data.jsonl"), records);
    }

    @Test
    void writesBothSidesBesideTheInputAndPrintsTheCounts() throws IOException {
        Path input = data();
        byte[] before = Files.readAllBytes(input);
        FileTime modified = Files.getLastModifiedTime(input);

        CliRun run = CliRun.of("data", "split", input.toString(), "--validation-ratio", "0.25", "--stratify-by", "assistant");

        assertEquals(0, run.exitCode(), run.err());
        Path train = dir.resolve("data.train.jsonl");
        Path validation = dir.resolve("data.validation.jsonl");
        // yes: 13 records (12 + the copy), round(3.25) = 3; no: 8, round(2.0) = 2
        assertEquals("split " + input + " (21 examples, seed 42): 16 train -> " + train + ", 5 validation (23.8%) -> " + validation + "\n"
                + "duplicate groups kept wholly on one side: 1 (2 examples)\n"
                + "final answer                                 train  validation\n"
                + "\"yes\"                                           10           3\n"
                + "\"no\"                                             6           2\n", run.out());
        assertEquals(16, Files.readAllLines(train).size());
        assertEquals(5, Files.readAllLines(validation).size());
        assertArrayEquals(before, Files.readAllBytes(input));
        assertEquals(modified, Files.getLastModifiedTime(input));
    }

    @Test
    void existingOutputsNeedForceAndTheSeedReproducesTheSplit() throws IOException {
        Path input = data();
        Path valid = dir.resolve("v.jsonl.gz");
        assertEquals(0, CliRun.of("data", "split", input.toString(), "--validation-ratio", "0.2", "--seed", "9",
                "--train-out", dir.resolve("t.jsonl").toString(), "--validation-out", valid.toString()).exitCode());
        byte[] first = Files.readAllBytes(valid);

        CliRun refused = CliRun.of("data", "split", input.toString(), "--validation-ratio", "0.2", "--seed", "9",
                "--train-out", dir.resolve("t.jsonl").toString(), "--validation-out", valid.toString());
        CliRun forced = CliRun.of("data", "split", input.toString(), "--validation-ratio", "0.2", "--seed", "9",
                "--train-out", dir.resolve("t.jsonl").toString(), "--validation-out", valid.toString(), "--force");

        assertEquals(2, refused.exitCode());
        assertEquals("error: --train-out " + dir.resolve("t.jsonl") + " already exists; choose another name or pass --force to replace it",
                refused.errorLine());
        assertEquals(0, forced.exitCode(), forced.err());
        assertArrayEquals(first, Files.readAllBytes(valid));
        assertEquals(0x1f, first[0] & 0xff, "gzip, as the name says");
    }

    @Test
    void usageErrorsExitTwoWithOneLine() throws IOException {
        Path input = data();

        assertUsage("error: --validation-ratio 1.5: must lie between 0 and 1 (exclusive), e.g. 0.1",
                "data", "split", input.toString(), "--validation-ratio", "1.5");
        assertUsage("error: --stratify-by user: unknown; the one choice is assistant (the final assistant answer)",
                "data", "split", input.toString(), "--validation-ratio", "0.2", "--stratify-by", "user");
        assertUsage("error: " + dir.resolve("none.jsonl") + ": file not found; check the path",
                "data", "split", dir.resolve("none.jsonl").toString(), "--validation-ratio", "0.2");
        assertUsage("error: --validation-out " + input + " is the input file, which is never modified; choose another name",
                "data", "split", input.toString(), "--validation-ratio", "0.2", "--validation-out", input.toString(), "--force");
        assertUsage("error: --train-out and --validation-out name the same file " + dir.resolve("x.jsonl") + "; give two names",
                "data", "split", input.toString(), "--validation-ratio", "0.2", "--train-out", dir.resolve("x.jsonl").toString(),
                "--validation-out", dir.resolve("x.jsonl").toString());
        assertEquals(2, CliRun.of("data", "split", input.toString()).exitCode(), "--validation-ratio is required");
        assertFalse(Files.exists(dir.resolve("data.train.jsonl")));
    }

    @Test
    void dataProblemsExitOneWithOneLine() throws IOException {
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), chat("a b c", "x") + "\nnot json\n");
        Path small = write(dir.resolve("small.jsonl"), List.of(chat("a b c", "x"), chat("d e f", "y")));

        CliRun invalid = CliRun.of("data", "split", bad.toString(), "--validation-ratio", "0.5");
        CliRun tooFew = CliRun.of("data", "split", small.toString(), "--validation-ratio", "0.1");

        assertEquals(1, invalid.exitCode());
        assertTrue(invalid.errorLine().startsWith("error: " + bad + ":2: invalid JSON"), invalid.err());
        assertTrue(invalid.errorLine().endsWith("(fix the file first: tailor data validate " + bad + " lists every error)"), invalid.err());
        assertEquals(1, tooFew.exitCode());
        assertEquals("error: --validation-ratio 0.1 of 2 examples rounds to no validation example; raise the ratio or add examples",
                tooFew.errorLine());
    }

    private static void assertUsage(String line, String... args) {
        CliRun run = CliRun.of(args);
        assertEquals(2, run.exitCode(), run.err());
        assertEquals(line, run.errorLine());
    }
}
