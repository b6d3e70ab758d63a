package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TransformOutputTest {
    @TempDir
    Path dir;

    @Test
    void defaultNamesSitBesideTheInputWithoutItsExtensionAndGzip() {
        assertEquals(Path.of("d/data.train.jsonl"), TransformOutput.beside(Path.of("d/data.jsonl"), "train"));
        assertEquals(Path.of("d/data.chat.jsonl"), TransformOutput.beside(Path.of("d/data.jsonl.gz"), "chat"));
        assertEquals(Path.of("data.dedup.jsonl"), TransformOutput.beside(Path.of("data.json"), "dedup"));
        assertEquals(Path.of("my.data.validation.jsonl"), TransformOutput.beside(Path.of("my.data.jsonl"), "validation"));
        assertEquals(Path.of(".hidden.train.jsonl"), TransformOutput.beside(Path.of(".hidden"), "train"));
    }

    @Test
    void theInputIsNeverAnOutputAndExistingFilesNeedForce() throws IOException {
        Path input = Files.writeString(dir.resolve("in.jsonl"), "{}\n");
        Path existing = Files.writeString(dir.resolve("out.jsonl"), "old\n");

        TailorException self = assertThrows(TailorException.class,
                () -> TransformOutput.check(input, dir.resolve("x/../in.jsonl"), "--output", true));
        TailorException exists = assertThrows(TailorException.class, () -> TransformOutput.check(input, existing, "--output", false));
        TransformOutput.check(input, existing, "--output", true);
        TransformOutput.check(input, dir.resolve("new.jsonl"), "--output", false);

        assertEquals("--output " + dir.resolve("x/../in.jsonl") + " is the input file, which is never modified; choose another name",
                self.getMessage());
        assertEquals("--output " + existing + " already exists; choose another name or pass --force to replace it", exists.getMessage());
    }

    @Test
    void writesCompactLinesAndGzipsWhenTheNameSaysSo() throws IOException {
        Path plain = dir.resolve("out.jsonl");
        Path gz = dir.resolve("out.jsonl.gz");
        String record = "{\"b\": 1, \"a\": [\"é\", null]}";

        TransformOutput.write(plain, lines -> lines.add(parse(record)));
        TransformOutput.write(gz, lines -> {
            lines.add(parse(record));
            lines.add(parse("{\"c\": true}"));
        });

        assertEquals("{\"b\":1,\"a\":[\"é\",null]}\n", Files.readString(plain, StandardCharsets.UTF_8));
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            assertEquals("{\"b\":1,\"a\":[\"é\",null]}\n{\"c\":true}\n", new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aFailingBodyLeavesNoFile() throws IOException {
        Path out = dir.resolve("out.jsonl");

        assertThrows(TailorException.class, () -> TransformOutput.write(out, lines -> {
            lines.add(parse("{}"));
            throw new TailorException("stop");
        }));

        assertFalse(Files.exists(out));
        try (var files = Files.list(dir)) {
            assertTrue(files.findAny().isEmpty(), "no temporary file left");
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode parse(String json) {
        try {
            return Json.MAPPER.readTree(json);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
