package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataValidateCommandTest {
    private static final String CHAT = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n";

    @TempDir
    Path dir;

    @Test
    void usableDataExitsZeroAndPrintsASummary() throws IOException {
        Path file = Files.writeString(dir.resolve("ok.jsonl"), CHAT);

        CliRun run = CliRun.of("data", "validate", file.toString());

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().startsWith(file + ": chat, 1 example, 0 errors, 2 warnings\n"), run.out());
        assertTrue(run.out().contains("[few_examples]"), run.out());
        assertTrue(run.out().endsWith("result: usable (read the warnings)\n"), run.out());
    }

    @Test
    void errorsExitOneAndJsonHasExactlyTheDocumentedShape() throws IOException {
        Path file = Files.writeString(dir.resolve("bad.jsonl"), CHAT + "{\"messages\": [{\"role\": \"human\", \"content\": \"Hi\"}]}\nnot json\n");
        byte[] before = Files.readAllBytes(file);
        FileTime modified = Files.getLastModifiedTime(file);

        CliRun run = CliRun.of("data", "validate", file.toString(), "--json");

        assertEquals(1, run.exitCode(), run.err());
        JsonNode json = Json.MAPPER.readTree(run.out());
        assertEquals(Set.of("format", "examples", "errors", "warnings", "stats"), fieldNames(json));
        assertEquals("chat", json.get("format").asText());
        assertEquals(3, json.get("examples").asInt());
        assertEquals(List.of(2, 2, 3), lines(json.get("errors")));
        assertEquals(List.of("unrecognized_role", "example_missing_assistant_message", "invalid_json"),
                json.get("errors").findValuesAsText("code"));
        for (JsonNode issue : json.get("errors")) {
            assertEquals(Set.of("line", "code", "message"), fieldNames(issue));
        }
        for (JsonNode issue : json.get("warnings")) {
            assertEquals(Set.of("line", "code", "message"), fieldNames(issue));
        }
        assertTrue(json.get("warnings").get(0).get("line").isNull(), run.out()); // few_examples: about the whole file
        assertEquals(3, json.get("stats").get("errors_by_code").size());
        assertArrayEquals(before, Files.readAllBytes(file), "the input is never modified");
        assertEquals(modified, Files.getLastModifiedTime(file));
    }

    @Test
    void usageErrorsExitTwo() throws IOException {
        Path file = Files.writeString(dir.resolve("ok.jsonl"), CHAT);

        CliRun missing = CliRun.of("data", "validate", dir.resolve("nope.jsonl").toString());
        CliRun badFormat = CliRun.of("data", "validate", file.toString(), "--format", "csv");
        CliRun lengthWithoutModel = CliRun.of("data", "validate", file.toString(), "--max-seq-len", "100");
        CliRun unknownOption = CliRun.of("data", "validate", file.toString(), "--frobnicate");
        CliRun noFile = CliRun.of("data", "validate");

        assertEquals(2, missing.exitCode());
        assertEquals("error: " + dir.resolve("nope.jsonl") + ": file not found; check the path", missing.errorLine());
        assertEquals(2, badFormat.exitCode());
        assertTrue(badFormat.errorLine().contains("--format csv: unknown format; use one of chat, completion, text, preference, rft, vision"));
        assertEquals(2, lengthWithoutModel.exitCode());
        assertTrue(lengthWithoutModel.errorLine().contains("--max-seq-len needs --model"));
        assertEquals(2, unknownOption.exitCode());
        assertEquals(2, noFile.exitCode());
    }

    @Test
    void withAModelCountsTokensAndFlagsLongExamples() throws IOException {
        Path model = dir.resolve("model");
        ByteLevelBpeTokenizerWriter.write(model, 512, 32768, ChatTemplate.CHATML_SOURCE);
        String longOne = "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "a story ".repeat(40) + "\"}, {\"role\": \"assistant\", \"content\": \"ok\"}]}\n";
        Path file = Files.writeString(dir.resolve("data.jsonl"), CHAT + longOne);

        CliRun run = CliRun.of("data", "validate", file.toString(), "--model", model.toString(), "--max-seq-len", "100", "--json");

        assertEquals(0, run.exitCode(), run.err());
        JsonNode json = Json.MAPPER.readTree(run.out());
        JsonNode tokens = json.get("stats").get("tokens_per_example");
        assertTrue(tokens.get("min").asInt() < 100 && tokens.get("max").asInt() > 100, tokens.toString());
        List<String> codes = json.get("warnings").findValuesAsText("code");
        assertTrue(codes.contains("assistant_truncated"), codes.toString());
        assertEquals(2, CliRun.of("data", "validate", file.toString(), "--model", dir.resolve("none").toString()).exitCode());
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new java.util.HashSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static List<Integer> lines(JsonNode issues) {
        return IntStream.range(0, issues.size()).mapToObj(i -> issues.get(i).get("line").asInt()).collect(Collectors.toList());
    }
}
