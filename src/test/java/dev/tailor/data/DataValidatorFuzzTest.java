package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random byte mutations of valid files (seeded, so a failure replays): the validator never throws,
 * every error it reports has a line inside the file and a code, and training's loader fails exactly
 * with the first of those errors (same checks) or not at all.
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

    @TempDir
    Path dir;

    @Test
    void mutatedFilesNeverCrashAndEveryErrorHasALine() throws IOException {
        Random random = new Random(20261128);
        int withErrors = 0;
        for (int round = 0; round < 400; round++) {
            byte[] original = (round % 2 == 0 ? CHAT_FILE : COMPLETION_FILE).getBytes(StandardCharsets.UTF_8);
            byte[] mutated = mutate(original, random);
            Path file = Files.write(dir.resolve("fuzz" + round + ".jsonl"), mutated);
            int lines = 1;
            for (byte b : mutated) {
                lines += b == '\n' ? 1 : 0;
            }

            ValidationReport report = new DataValidator(null, null, 512).validate(file);

            String where = "round " + round + ": " + new String(mutated, StandardCharsets.UTF_8);
            for (DataIssue error : report.errors()) {
                assertTrue(error.code().matches("[a-z_0-9]+"), where);
                assertFalse(error.message().isBlank() || error.message().contains("\n"), where);
                if (!error.code().equals("empty_file")) {
                    assertNotNull(error.line(), where);
                    assertTrue(error.line() >= 1 && error.line() <= lines, where + " -> " + error);
                }
            }
            withErrors += report.usable() ? 0 : 1;
            try {
                Dataset.load(file);
                assertTrue(report.usable() || !report.format().matches("chat|completion|text"), where + " -> " + report.errors());
            } catch (TailorException e) {
                DataIssue first = report.errors().get(0);
                // the list of formats in the fix differs: training names the SFT formats only
                boolean formatList = first.code().equals("unknown_format") || first.code().equals("data_type");
                String expected = first.line() == null ? file + ": "
                        : file + ":" + first.line() + ": " + (formatList ? "" : first.message());
                assertTrue(e.getMessage().startsWith(expected), where + "\n" + e.getMessage() + "\n" + expected);
            }
        }
        assertTrue(withErrors > 100, "the mutations must actually break files: " + withErrors);
    }

    /** One to four random edits: overwrite, insert or delete a byte (bytes of any value, so invalid UTF-8 too). */
    private static byte[] mutate(byte[] data, Random random) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] current = data;
        int edits = 1 + random.nextInt(4);
        for (int e = 0; e < edits; e++) {
            int at = random.nextInt(current.length);
            out.reset();
            out.write(current, 0, at);
            int kind = random.nextInt(3);
            byte value = random.nextInt(4) == 0 ? (byte) random.nextInt(256) : (byte) SYNTAX.charAt(random.nextInt(SYNTAX.length()));
            if (kind == 0) {
                out.write(value);
                out.write(current, at + 1, current.length - at - 1);
            } else if (kind == 1) {
                out.write(value);
                out.write(current, at, current.length - at);
            } else {
                out.write(current, at + 1, current.length - at - 1);
            }
            current = out.toByteArray();
            if (current.length == 0) {
                return current;
            }
        }
        assertEquals(current.length, out.size());
        return current;
    }
}
