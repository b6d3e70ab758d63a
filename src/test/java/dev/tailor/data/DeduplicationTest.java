package dev.tailor.data;

import static dev.tailor.data.TransformTestData.chat;
import static dev.tailor.data.TransformTestData.lines;
import static dev.tailor.data.TransformTestData.words;
import static dev.tailor.data.TransformTestData.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeduplicationTest {
    private static final String A = chat(words(1, 60), "first");
    private static final String B = chat(words(2, 60), "second");
    private static final String C = chat(words(3, 60), "third");
    private static final String D = chat(words(4, 60), "fourth");
    /** B with its last word changed: 57 of 59 word 3-grams shared. */
    private static final String B_NEAR = chat(words(2, 60).replaceFirst("w\\d+$", "changed"), "second");
    /** A with an "id": the same conversation, so an exact duplicate as the validator counts them. */
    private static final String A_WITH_ID = A.substring(0, A.length() - 1) + ",\"id\":6}";

    @TempDir
    Path dir;

    /** Lines 1 A, 2 B, 3 A, 4 C, 5 B', 6 A (with an id), 7 D, 8 B' again. */
    private Path input() throws IOException {
        return write(dir.resolve("data.jsonl"), List.of(A, B, A, C, B_NEAR, A_WITH_ID, D, B_NEAR));
    }

    @Test
    void keepsTheFirstOfEachGroupAndNamesTheRemovedLines() throws IOException {
        Path input = input();
        byte[] before = Files.readAllBytes(input);
        Path output = dir.resolve("out.jsonl");

        Deduplication.Result r = Deduplication.dedupe(input, output, false);

        assertEquals(List.of(A, B, C, D), lines(output));
        assertEquals(8, r.examples());
        assertEquals(4, r.kept());
        assertEquals(3, r.exactRemoved());
        assertEquals(1, r.nearRemoved());
        // line 8 is an exact copy of line 5, itself a near-duplicate of line 2
        assertEquals(List.of(new Deduplication.Group(1, List.of(3, 6), List.of()), new Deduplication.Group(2, List.of(8), List.of(5))),
                r.groups());
        assertArrayEquals(before, Files.readAllBytes(input));
        ValidationReport report = new DataValidator(null, null, 512).validate(output);
        assertTrue(report.warnings().stream().noneMatch(w -> w.code().contains("duplicate")), report.warnings().toString());
    }

    @Test
    void exactOnlyKeepsNearDuplicates() throws IOException {
        Path output = dir.resolve("out.jsonl");

        Deduplication.Result r = Deduplication.dedupe(input(), output, true);

        assertEquals(List.of(A, B, C, B_NEAR, D), lines(output));
        assertEquals(List.of(new Deduplication.Group(1, List.of(3, 6), List.of()), new Deduplication.Group(5, List.of(8), List.of())),
                r.groups());
    }

    @Test
    void aFileWithoutDuplicatesIsCopiedWhole() throws IOException {
        Path input = write(dir.resolve("data.jsonl"), List.of(A, B, C));

        Deduplication.Result r = Deduplication.dedupe(input, dir.resolve("out.jsonl"), false);

        assertEquals(List.of(A, B, C), lines(dir.resolve("out.jsonl")));
        assertEquals(List.of(), r.groups());
    }

    @Test
    void aFileWithAnErrorWritesNothing() throws IOException {
        Path input = write(dir.resolve("data.jsonl"), List.of(A, "{\"prompt\":\"p\",\"completion\":\"\"}"));

        TailorException e = assertThrows(TailorException.class, () -> Deduplication.dedupe(input, dir.resolve("out.jsonl"), false));

        assertTrue(e.getMessage().startsWith(input + ":2: "), e.getMessage());
        assertFalse(Files.exists(dir.resolve("out.jsonl")));
    }
}
