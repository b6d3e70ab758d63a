package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DatasetTest {
    private static final String CHAT = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}";

    @TempDir
    Path dir;

    /** One example parsed from a one-line file, for tests that write conversations inline. */
    static Example example(String json) {
        try {
            Path file = Files.createTempFile("example", ".jsonl");
            try {
                Files.writeString(file, json.replace("\n", " "));
                return Dataset.load(file).examples().get(0);
            } finally {
                Files.delete(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void readsChatWithBomBlankLinesAndLineNumbers() throws IOException {
        Path file = Files.writeString(dir.resolve("chat.jsonl"), "\uFEFF" + CHAT + "\n\n  \n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Q\"},"
                + " {\"role\": \"assistant\", \"content\": \"A\", \"weight\": 1}], \"tools\": [{\"type\": \"function\"}]}\r\n");

        Dataset dataset = Dataset.load(file);

        assertEquals(Example.Kind.CHAT, dataset.kind());
        assertEquals(2, dataset.size());
        assertEquals(List.of(1, 4), dataset.examples().stream().map(Example::line).toList());
        assertEquals(Map.of("role", "user", "content", "Hi"), dataset.examples().get(0).messages().get(0));
        assertNull(dataset.examples().get(0).tools());
        assertEquals(List.of(Map.of("type", "function")), dataset.examples().get(1).tools());
        assertEquals(1, dataset.examples().get(1).messages().get(2).get("weight"));
    }

    @Test
    void readsGzippedCompletionAndTextFiles() throws IOException {
        Path gz = dir.resolve("completion.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n{\"prompt\": \"\", \"completion\": \"é\"}\n"
                    .getBytes(StandardCharsets.UTF_8));
        }
        Path text = Files.writeString(dir.resolve("text.jsonl"), "{\"text\": \"Once upon a time.\"}\n");

        Dataset completions = Dataset.load(gz);
        Dataset texts = Dataset.load(text);

        assertEquals(Example.Kind.COMPLETION, completions.kind());
        assertEquals(List.of("2+2=", ""), completions.examples().stream().map(Example::prompt).toList());
        assertEquals("é", completions.examples().get(1).completion());
        assertEquals(Example.Kind.TEXT, texts.kind());
        assertEquals("Once upon a time.", texts.examples().get(0).text());
    }

    @Test
    void anAssistantToolCallWithoutContentGetsEmptyContent() {
        Example example = example("{\"messages\": [{\"role\": \"user\", \"content\": \"Weather?\"}, {\"role\": \"assistant\","
                + " \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"w\", \"arguments\": \"{}\"}}]},"
                + " {\"role\": \"tool\", \"content\": \"sunny\"}, {\"role\": \"assistant\", \"content\": \"Sunny.\"}]}");

        assertEquals("", example.messages().get(1).get("content"));
    }

    /** Each case: a file (lines separated by '|'), the line the error must name, and the problem it must state. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = ';', quoteCharacter = '`', value = {
        "invalid JSON; {\"messages\": [;1;invalid JSON",
        "two objects on a line;" + CHAT + " {};1;invalid JSON",
        "not an object; [1, 2];1;not a JSON object",
        "unknown format; {\"input\": \"x\"};1;not an SFT example",
        "preference pair; {\"prompt\": \"x\", \"chosen\": \"a\", \"rejected\": \"b\"};1;DPO data",
        "missing messages;" + CHAT + "|{\"tools\": []};2;missing \"messages\"",
        "messages not an array; {\"messages\": {}};1;\"messages\" must be an array",
        "empty messages; {\"messages\": []};1;\"messages\" is empty",
        "message without role; {\"messages\": [{\"content\": \"Hi\"}]};1;messages[0] has no \"role\"",
        "message without content; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\"}]};1;messages[1] has no \"content\"",
        "content not a string; {\"messages\": [{\"role\": \"user\", \"content\": [1]}]};1;\"content\" must be a string",
        "unknown role; {\"messages\": [{\"role\": \"human\", \"content\": \"Hi\"}]};1;unknown role \"human\"",
        "weight not 0 or 1; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\", \"weight\": 0.5}]};1;\"weight\" must be 0 or 1",
        "weight a string; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\", \"weight\": \"1\"}]};1;\"weight\" must be 0 or 1",
        "weight on a user message; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\", \"weight\": 1}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;assistant messages only",
        "no assistant message;" + CHAT + "||{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]};3;no assistant message",
        "all weights zero; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\", \"weight\": 0}]};1;weight\": 0",
        "tools not an array; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}], \"tools\": {}};1;\"tools\" must be an array",
        "empty completion; {\"prompt\": \"a\", \"completion\": \"b\"}|{\"prompt\": \"a\", \"completion\": \"\"};2;\"completion\" is empty",
        "missing completion; {\"prompt\": \"a\"};1;missing \"completion\"",
        "completion not a string; {\"prompt\": \"a\", \"completion\": 4};1;\"completion\" must be a string",
        "empty text; {\"text\": \"\"};1;\"text\" is empty",
        "mixed formats;" + CHAT + "| |{\"text\": \"plain\"};3;a text example ({\"text\": ...}) in a file whose first example (line 1) is a chat example",
        "mixed formats, completion in text file; {\"text\": \"t\"}|{\"prompt\": \"a\", \"completion\": \"b\"};2;a prompt/completion example in a file",
    })
    void errorsNameTheFileTheLineAndTheProblem(String name, String content, int line, String problem) throws IOException {
        Path file = Files.writeString(dir.resolve("data.jsonl"), content.strip().replace("|", "\n") + "\n");

        TailorException e = assertThrows(TailorException.class, () -> Dataset.load(file));

        assertTrue(e.getMessage().startsWith(file + ":" + line + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(problem), e.getMessage());
        assertTrue(e.getMessage().contains("; "), "names a fix: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    @Test
    void anEmptyFileHasNoExamples() throws IOException {
        Path file = Files.writeString(dir.resolve("empty.jsonl"), "\n  \n\n");

        TailorException e = assertThrows(TailorException.class, () -> Dataset.load(file));

        assertTrue(e.getMessage().startsWith(file + ": the file has no examples; "), e.getMessage());
    }

    @Test
    void invalidUtf8NamesTheLine() throws IOException {
        Path file = dir.resolve("latin1.jsonl");
        Files.write(file, (CHAT + "\n{\"text\": \"caf").getBytes(StandardCharsets.UTF_8));
        Files.write(file, new byte[] {(byte) 0xE9, '"', '}', '\n'}, StandardOpenOption.APPEND);

        TailorException e = assertThrows(TailorException.class, () -> Dataset.load(file));

        assertEquals(file + ":2: not valid UTF-8; save the file as UTF-8", e.getMessage());
    }

    @Test
    void aMissingFileIsNamed() {
        Path file = dir.resolve("nope.jsonl");

        TailorException e = assertThrows(TailorException.class, () -> Dataset.load(file));

        assertEquals(file + ": file not found; check the path", e.getMessage());
    }
}
