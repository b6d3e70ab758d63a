package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * Property-based (jqwik, which shrinks a failure to a smallest breaking file): for random byte
 * mutations of valid files the validator never throws, every error it reports has a line inside
 * the file and a code, and training's loader fails exactly with the first of those errors (same
 * checks) or not at all.
 */
class DataValidatorFuzzTest {
    private static final String CHAT_FILE = """
            {"messages": [{"role": "system", "content": "Route tickets."}, {"role": "user", "content": "Mon café a brûlé"}, {"role": "assistant", "content": "shipping", "weight": 1}]}
            {"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": "{}"}}]}, {"role": "tool", "content": "sunny"}, {"role": "assistant", "content": "Sunny."}], "tools": [{"type": "function"}]}

            {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
            {"messages": [{"role": "user", "content": "日本語"}, {"role": "assistant", "content": "はい"}]}
            """;
    private static final String COMPLETION_FILE = """
            {"prompt": "Translate: hello", "completion": "bonjour"}
            {"prompt": "", "completion": "é"}
            {"prompt": "Translate: cat", "completion": "chat"}
            """;

    /** Bytes that break JSON structure more often than random ones. */
    private static final String SYNTAX = "{}[]\":,\n \\x0";

    /** One edit at a relative position: overwrite, insert or delete a byte. */
    private record Edit(double at, int kind, byte value) {}

    @Property(tries = 400, seed = "20261128")
    void mutatedFilesNeverCrashAndEveryErrorHasALine(@ForAll("mutatedFiles") byte[] mutated) throws IOException {
        Path file = Files.createTempFile("fuzz", ".jsonl");
        try {
            Files.write(file, mutated);
            check(file, mutated);
        } finally {
            Files.delete(file);
        }
    }

    private static void check(Path file, byte[] mutated) {
        int lines = 1;
        for (byte b : mutated) {
            lines += b == '\n' ? 1 : 0;
        }

        ValidationReport report = new DataValidator(null, null, 512).validate(file);

        String where = new String(mutated, StandardCharsets.UTF_8);
        for (DataIssue error : report.errors()) {
            assertTrue(error.code().matches("[a-z_0-9]+"), where);
            assertFalse(error.message().isBlank() || error.message().contains("\n"), where);
            if (!error.code().equals("empty_file")) {
                assertNotNull(error.line(), where);
                assertTrue(error.line() >= 1 && error.line() <= lines, where + " -> " + error);
            }
        }
        Statistics.label("file").collect(report.usable() ? "usable" : "has errors");
        Statistics.label("file").coverage(c -> c.check("has errors").percentage(p -> p > 25)); // the mutations must break files
        try {
            Dataset.load(file);
            assertTrue(report.usable() || !report.format().matches("chat|completion|text"), where + " -> " + report.errors());
        } catch (TailorException e) {
            DataIssue first = report.errors().get(0);
            // the list of formats in the fix differs: training names the SFT formats only
            boolean formatList = first.code().equals("unknown_format") || first.code().equals("data_type");
            String expected = first.line() == null ? file + ": " : file + ":" + first.line() + ": " + (formatList ? "" : first.message());
            assertTrue(e.getMessage().startsWith(expected), where + "\n" + e.getMessage() + "\n" + expected);
        }
    }

    /** A valid chat or completion file with one to four edits; a quarter of the written bytes are random (invalid UTF-8 too). */
    @Provide
    Arbitrary<byte[]> mutatedFiles() {
        Arbitrary<Byte> value = Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.of(SYNTAX.chars().mapToObj(c -> (byte) c).toList())),
                Tuple.of(1, Arbitraries.bytes()));
        Arbitrary<Edit> edit = Combinators.combine(Arbitraries.doubles().between(0, 1).ofScale(4), Arbitraries.integers().between(0, 2), value)
                .as(Edit::new);
        return Combinators.combine(Arbitraries.of(CHAT_FILE, COMPLETION_FILE), edit.list().ofMinSize(1).ofMaxSize(4))
                .as(DataValidatorFuzzTest::apply);
    }

    private static byte[] apply(String original, List<Edit> edits) {
        List<Byte> bytes = new ArrayList<>();
        for (byte b : original.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b);
        }
        for (Edit e : edits) {
            if (bytes.isEmpty()) {
                break;
            }
            int at = (int) Math.min(bytes.size() - 1, e.at() * bytes.size());
            switch (e.kind()) {
                case 0 -> bytes.set(at, e.value());
                case 1 -> bytes.add(at, e.value());
                default -> bytes.remove(at);
            }
        }
        byte[] out = new byte[bytes.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = bytes.get(i);
        }
        return out;
    }
}
