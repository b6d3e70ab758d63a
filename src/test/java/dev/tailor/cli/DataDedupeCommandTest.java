package dev.tailor.cli;

import static dev.tailor.data.TransformTestData.chat;
import static dev.tailor.data.TransformTestData.words;
import static dev.tailor.data.TransformTestData.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataDedupeCommandTest {
    @TempDir
    Path dir;

    @Test
    void removesCopiesAndSaysWhichLinesWent() throws IOException {
        String a = chat(words(1, 60), "a");
        String b = chat(words(2, 60), "b");
        String bNear = chat(words(2, 60) + " too", "b");
        Path input = write(dir.resolve("data.jsonl"), List.of(a, b, a, bNear, a));
        byte[] before = Files.readAllBytes(input);

        CliRun run = CliRun.of("data", "dedupe", input.toString());

        assertEquals(0, run.exitCode(), run.err());
        Path out = dir.resolve("data.dedup.jsonl");
        assertEquals(input + ": kept 2 of 5 examples, removed 3 (exact duplicates: 2, near-duplicates: 1) -> " + out + "\n"
                + "  line 1 kept; removed 3, 5 (exact)\n"
                + "  line 2 kept; removed 4 (near)\n", run.out());
        assertEquals(List.of(a, b), Files.readAllLines(out));
        assertArrayEquals(before, Files.readAllBytes(input));
        assertEquals(2, CliRun.of("data", "dedupe", input.toString()).exitCode(), "the output exists now");
    }

    @Test
    void listsAtMostTwentyGroups() throws IOException {
        List<String> records = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            records.add(chat(words(i, 20), "x"));
            records.add(chat(words(i, 20), "x"));
        }
        Path input = write(dir.resolve("data.jsonl"), records);

        CliRun run = CliRun.of("data", "dedupe", input.toString(), "--exact-only", "--output", dir.resolve("o.jsonl").toString());

        assertEquals(0, run.exitCode(), run.err());
        String[] lines = run.out().split("\n");
        assertEquals(22, lines.length);
        assertEquals("  line 39 kept; removed 40 (exact)", lines[20]);
        assertEquals("  ... and 3 more groups", lines[21]);
    }

    @Test
    void usageErrorsExitTwo() throws IOException {
        Path input = write(dir.resolve("data.jsonl"), List.of(chat("a b c", "x")));

        CliRun self = CliRun.of("data", "dedupe", input.toString(), "--output", input.toString());
        CliRun missing = CliRun.of("data", "dedupe", dir.resolve("no.jsonl").toString());

        assertEquals(2, self.exitCode());
        assertEquals("error: --output " + input + " is the input file, which is never modified; choose another name", self.errorLine());
        assertEquals(2, missing.exitCode());
        assertEquals("error: " + dir.resolve("no.jsonl") + ": file not found; check the path", missing.errorLine());
    }
}
