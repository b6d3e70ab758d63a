package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.ChatTemplate;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataConvertCommandTest {
    private static final String CHAT = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q\"},"
            + "{\"role\":\"assistant\",\"content\":\"A\"}]}";

    @TempDir
    Path dir;

    @Test
    void aGzippedInputGivesAPlainOutputBesideIt() throws IOException {
        Path input = dir.resolve("data.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(input))) {
            out.write("{\"prompt\": \"Q\", \"completion\": \"A\"}\n".getBytes(StandardCharsets.UTF_8));
        }
        byte[] before = Files.readAllBytes(input);

        CliRun run = CliRun.of("data", "convert", input.toString(), "--to", "chat", "--system", "S");

        assertEquals(0, run.exitCode(), run.err());
        Path out = dir.resolve("data.chat.jsonl");
        assertEquals("converted 1 completion example to chat -> " + out + "\n", run.out());
        assertEquals(List.of(CHAT), Files.readAllLines(out));
        assertArrayEquals(before, Files.readAllBytes(input));
    }

    @Test
    void aModelsChatTemplateRendersThePrompts() throws IOException {
        Path input = Files.writeString(dir.resolve("chat.jsonl"), CHAT + "\n");
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.writeString(model.resolve("chat_template.jinja"), ChatTemplate.CHATML_SOURCE);

        CliRun withoutModel = CliRun.of("data", "convert", input.toString(), "--to", "completion");
        CliRun withModel = CliRun.of("data", "convert", input.toString(), "--to", "completion", "--model", model.toString());

        assertEquals(1, withoutModel.exitCode());
        assertEquals("error: " + input + ":1: a conversation with a system message, several turns or tools becomes one prompt only"
                + " through the model's chat template; pass --model DIR (the model you will train)", withoutModel.errorLine());
        assertEquals(0, withModel.exitCode(), withModel.err());
        assertEquals(List.of("{\"prompt\":\"<|im_start|>system\\nS<|im_end|>\\n<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\n\","
                + "\"completion\":\"A\"}"), Files.readAllLines(dir.resolve("chat.completion.jsonl")));
    }

    @Test
    void usageErrorsExitTwoAndDataProblemsOne() throws IOException {
        Path input = Files.writeString(dir.resolve("chat.jsonl"), CHAT + "\n");
        Path text = Files.writeString(dir.resolve("text.jsonl"), "{\"text\": \"plain\"}\n");
        Path empty = Files.createDirectories(dir.resolve("empty"));

        assertUsage("error: --to xml: unknown format; use one of chat, completion, preference-openai, preference-trl",
                "data", "convert", input.toString(), "--to", "xml");
        assertUsage("error: --system applies to --to chat only", "data", "convert", input.toString(), "--to", "completion", "--system", "S");
        assertUsage("error: --model applies to --to completion only (it renders conversations into prompts)",
                "data", "convert", input.toString(), "--to", "chat", "--model", empty.toString());
        assertUsage("error: --model " + dir.resolve("none") + ": not a directory",
                "data", "convert", input.toString(), "--to", "completion", "--model", dir.resolve("none").toString());
        CliRun noTemplate = CliRun.of("data", "convert", input.toString(), "--to", "completion", "--model", empty.toString());
        assertEquals(2, noTemplate.exitCode());
        assertTrue(noTemplate.errorLine().contains("no chat template"), noTemplate.err());
        assertUsage("error: --output " + text + " is the input file, which is never modified; choose another name",
                "data", "convert", text.toString(), "--to", "chat", "--output", text.toString(), "--force");
        assertUsage("error: --output " + input + " already exists; choose another name or pass --force to replace it",
                "data", "convert", text.toString(), "--to", "chat", "--output", input.toString());

        CliRun unsupported = CliRun.of("data", "convert", text.toString(), "--to", "preference-trl");
        assertEquals(1, unsupported.exitCode());
        assertEquals("error: " + text + ": text data cannot be converted to preference-trl; possible: completion -> chat,"
                + " chat -> completion, preference (any form) -> preference-openai or preference-trl", unsupported.errorLine());
        assertFalse(Files.exists(dir.resolve("text.preference-trl.jsonl")));
    }

    private static void assertUsage(String line, String... args) {
        CliRun run = CliRun.of(args);
        assertEquals(2, run.exitCode(), run.err());
        assertEquals(line, run.errorLine());
    }
}
