package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streaming, proven: 200,000 examples in a file larger than the validating JVM's whole heap
 * validate in a separate JVM, and the few planted problems are found at their lines.
 */
class DataValidateLargeFileTest {
    private static final int EXAMPLES = 200_000;
    private static final int HEAP_MIB = 96;

    @TempDir
    Path tmp;

    @Test
    void aFileLargerThanTheHeapValidatesAndItsProblemsKeepTheirLines() throws Exception {
        Path file = tmp.resolve("large.jsonl");
        writeLargeFile(file);
        long bytes = Files.size(file);
        assertTrue(bytes > 1.3 * HEAP_MIB * 1048576L, "the file must be larger than the heap: " + bytes);

        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx" + HEAP_MIB + "m",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "data", "validate", file.toString(), "--json");
        Path out = tmp.resolve("out.json");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(tmp.resolve("err.txt").toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "validation did not finish");
        assertEquals(1, p.exitValue(), Files.readString(tmp.resolve("err.txt")));

        JsonNode report = Json.MAPPER.readTree(out.toFile());
        assertEquals(EXAMPLES, report.get("examples").asInt());
        assertEquals(List.of(100_000), report.get("errors").findValues("line").stream().map(JsonNode::asInt).toList());
        assertEquals("invalid_json", report.get("errors").get(0).get("code").asText());
        JsonNode duplicate = report.get("warnings").get(0);
        assertEquals("duplicate_examples", duplicate.get("code").asText());
        assertTrue(duplicate.get("message").asText().startsWith("lines 7, 150000, 199999 are identical"), duplicate.toString());
        assertEquals(EXAMPLES - 1, report.get("stats").get("valid_examples").asInt());
    }

    /** Distinct chat examples of 700-900 bytes; line 100000 is broken JSON, lines 150000 and 199999 repeat line 7. */
    private static void writeLargeFile(Path file) throws Exception {
        String[] words = "order delivery refund account password invoice parcel address payment card shop return".split(" ");
        SplittableRandom random = new SplittableRandom(3);
        String line7 = null;
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (int line = 1; line <= EXAMPLES; line++) {
                StringBuilder user = new StringBuilder("Example ").append(line).append(':');
                for (int i = 0; i < 100; i++) {
                    user.append(' ').append(words[random.nextInt(words.length)]);
                }
                String example = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are the shop's assistant.\"},"
                        + "{\"role\":\"user\",\"content\":\"" + user + "\"},{\"role\":\"assistant\",\"content\":\"We will look into it.\"}]}";
                line7 = line == 7 ? example : line7;
                w.write(line == 100_000 ? "{\"messages\": [" : line == 150_000 || line == 199_999 ? line7 : example);
                w.write('\n');
            }
        }
    }
}
