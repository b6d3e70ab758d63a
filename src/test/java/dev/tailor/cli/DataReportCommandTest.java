package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataReportCommandTest {
    @TempDir
    Path dir;

    static String chat(int i) {
        return "{\"messages\": [{\"role\": \"system\", \"content\": \"Route it.\"}, {\"role\": \"user\", \"content\": \"ticket number " + i
                + " about topic " + (i * 7919 % 1000) + " from customer " + (i * 104729 % 10000) + "\"}, {\"role\": \"assistant\", \"content\": \""
                + (i % 2 == 0 ? "billing" : "shipping") + "\"}]}\n";
    }

    static String chats(int from, int to) {
        return IntStream.range(from, to).mapToObj(DataReportCommandTest::chat).collect(Collectors.joining());
    }

    @Test
    void writesTheHtmlBesideTheFileAndPrintsTheChecklistLeavingTheInputsAlone() throws IOException {
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 80));
        Path validation = Files.writeString(dir.resolve("valid.jsonl"), chats(80, 90) + chat(5));
        byte[] trainBytes = Files.readAllBytes(train);
        byte[] validationBytes = Files.readAllBytes(validation);
        FileTime modified = Files.getLastModifiedTime(train);

        CliRun run = CliRun.of("data", "report", train.toString(), "--validation", validation.toString());

        assertEquals(0, run.exitCode(), run.err());
        Path html = dir.resolve("train.report.html");
        assertTrue(Files.isRegularFile(html));
        assertTrue(Files.readString(html).startsWith("<!DOCTYPE html>"));
        assertTrue(run.out().startsWith(train + ": chat, 80 examples, 0 errors, "), run.out());
        for (String item : List.of("consistency", "diversity", "accuracy", "completeness", "balance", "length", "validation file", "leakage")) {
            assertTrue(run.out().contains("\n  " + item + " "), item + " in\n" + run.out());
        }
        assertTrue(run.out().contains("  leakage          fail  1 of 11 validation prompts (9%) are training prompts word for word,"
                + " e.g. train line 6 <-> validation line 11\n"), run.out());
        assertTrue(run.out().endsWith("report: " + html + "\nresult: usable (read the checklist)\n"), run.out());
        assertArrayEquals(trainBytes, Files.readAllBytes(train));
        assertArrayEquals(validationBytes, Files.readAllBytes(validation));
        assertEquals(modified, Files.getLastModifiedTime(train));
        assertEquals(Set.of("train.jsonl", "valid.jsonl", "train.report.html"), files(), "no temporary file left behind");
    }

    @Test
    void refusesToOverwriteWithoutForceAndNeverOverwritesAnInput() throws IOException {
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 60));
        Path html = Files.writeString(dir.resolve("mine.html"), "keep me");
        byte[] trainBytes = Files.readAllBytes(train);

        CliRun refused = CliRun.of("data", "report", train.toString(), "--out", html.toString());
        CliRun onInput = CliRun.of("data", "report", train.toString(), "--out", train.toString(), "--force");
        CliRun onDirectory = CliRun.of("data", "report", train.toString(), "--out", dir.toString());

        assertEquals(2, refused.exitCode());
        assertEquals("error: " + html + " exists; pass --force to replace it or choose another --out", refused.errorLine());
        assertEquals("keep me", Files.readString(html));
        assertEquals(2, onInput.exitCode());
        assertEquals("error: --out " + train + " is an input file; inputs are never overwritten: choose another --out", onInput.errorLine());
        assertArrayEquals(trainBytes, Files.readAllBytes(train));
        assertEquals(2, onDirectory.exitCode());
        assertTrue(onDirectory.errorLine().contains("is a directory"));
        CliRun forced = CliRun.of("data", "report", train.toString(), "--out", html.toString(), "--force");
        assertEquals(0, forced.exitCode(), forced.err());
        assertTrue(Files.readString(html).contains("id=\"checklist\""));
    }

    @Test
    void usageErrorsExitTwoWithOneLine() throws IOException {
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 60));

        CliRun missing = CliRun.of("data", "report", dir.resolve("nope.jsonl").toString());
        CliRun missingValidation = CliRun.of("data", "report", train.toString(), "--validation", dir.resolve("nope.jsonl").toString());
        CliRun lengthWithoutModel = CliRun.of("data", "report", train.toString(), "--max-seq-len", "100");
        CliRun notAModel = CliRun.of("data", "report", train.toString(), "--model", dir.resolve("none").toString());
        CliRun emptyModel = CliRun.of("data", "report", train.toString(), "--model", Files.createDirectory(dir.resolve("empty")).toString());
        CliRun unknownOption = CliRun.of("data", "report", train.toString(), "--frobnicate");

        assertEquals("error: " + dir.resolve("nope.jsonl") + ": file not found; check the path", missing.errorLine());
        assertEquals("error: " + dir.resolve("nope.jsonl") + ": file not found; check the path", missingValidation.errorLine());
        assertTrue(lengthWithoutModel.errorLine().contains("--max-seq-len needs --model"));
        assertEquals("error: --model " + dir.resolve("none") + ": not a directory", notAModel.errorLine());
        assertTrue(emptyModel.errorLine().startsWith("error: "));
        for (CliRun run : List.of(missing, missingValidation, lengthWithoutModel, notAModel, emptyModel, unknownOption)) {
            assertEquals(2, run.exitCode(), run.err());
        }
        assertEquals(Set.of("train.jsonl", "empty"), files(), "no report for a usage error");
    }

    @Test
    void aFileWithErrorsExitsOneAndStillGetsItsReportAsJson() throws IOException {
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 30) + "{\"messages\": [\n");

        CliRun run = CliRun.of("data", "report", train.toString(), "--json");

        assertEquals(1, run.exitCode(), run.err());
        JsonNode json = Json.MAPPER.readTree(run.out());
        assertEquals(Set.of("file", "usable", "checklist", "train", "html"), fieldNames(json));
        assertFalse(json.get("usable").asBoolean());
        assertEquals(dir.resolve("train.report.html").toString(), json.get("html").asText());
        assertTrue(Files.isRegularFile(dir.resolve("train.report.html")));
        assertEquals(List.of("fail", "ok", "ok", "warn", "ok", "skip", "skip"), json.get("checklist").findValuesAsText("status"));
        JsonNode histogram = json.get("train").get("length_histogram");
        assertEquals("characters", histogram.get("unit").asText());
        int counted = 0;
        for (JsonNode count : histogram.get("counts")) {
            counted += count.asInt();
        }
        assertEquals(30, counted);
        assertEquals("invalid_json", json.get("train").get("errors").get(0).get("code").asText());
        assertEquals(30, json.get("train").get("prompts").get("distinct").asInt());
    }

    @Test
    void withAModelLengthsAreTokensCheckedAgainstMaxSeqLen() throws IOException {
        Path model = dir.resolve("model");
        ByteLevelBpeTokenizerWriter.write(model, 512, 32768, ChatTemplate.CHATML_SOURCE);
        String longOne = "{\"messages\": [{\"role\": \"system\", \"content\": \"Route it.\"}, {\"role\": \"user\", \"content\": \""
                + "a long story ".repeat(40) + "\"}, {\"role\": \"assistant\", \"content\": \"billing\"}]}\n";
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 60) + longOne);

        CliRun run = CliRun.of("data", "report", train.toString(), "--model", model.toString(), "--max-seq-len", "100", "--json",
                "--measure-steps", "0", "--price-per-1k", "0.01");

        assertEquals(0, run.exitCode(), run.err());
        JsonNode json = Json.MAPPER.readTree(run.out());
        assertEquals("tokens", json.get("train").get("length_histogram").get("unit").asText());
        JsonNode estimate = json.get("estimate");
        assertEquals(61, estimate.get("examples").asInt());
        assertEquals(3, estimate.get("epochs").asInt(), "OpenAI's rule: 3 epochs from 34 examples");
        assertEquals(1, estimate.get("over_max_seq_len").asInt());
        assertEquals(3 * estimate.get("tokens_per_epoch").asLong(), estimate.get("billed_tokens").asLong());
        assertEquals(estimate.get("billed_tokens").asLong() / 1000.0 * 0.01, estimate.get("prices").get(0).get("total").asDouble(), 1e-9);
        assertTrue(estimate.get("throughput").isNull(), "--measure-steps 0 times nothing");
        JsonNode length = json.get("checklist").get(5);
        assertEquals("length", length.get("item").asText());
        assertEquals("warn", length.get("status").asText(), length.toString());
        assertTrue(length.get("evidence").get(1).asText().endsWith("; 1 examples are longer and get truncated: shorten them or raise --max-seq-len"),
                length.toString());
        assertEquals("warn", json.get("checklist").get(2).get("status").asText(), "the long example loses its whole answer");
    }

    @Test
    void aFileWithErrorsGetsItsReportWithTheReasonThereIsNoEstimate() throws IOException {
        Path model = dir.resolve("model");
        ByteLevelBpeTokenizerWriter.write(model, 512, 32768, ChatTemplate.CHATML_SOURCE);
        Path train = Files.writeString(dir.resolve("train.jsonl"), chats(0, 30) + "{\"messages\": [\n");

        CliRun run = CliRun.of("data", "report", train.toString(), "--model", model.toString(), "--measure-steps", "0", "--json");

        assertEquals(1, run.exitCode(), run.err());
        String reason = Json.MAPPER.readTree(run.out()).get("estimate").get("not_estimated").asText();
        assertTrue(reason.startsWith(train + ":31: "), reason);
    }

    @Test
    void theDefaultReportNameDropsTheDataExtensions() {
        assertEquals(Path.of("d", "train.report.html"), DataReportCommand.defaultOut(Path.of("d", "train.jsonl.gz")));
        assertEquals(Path.of("d", "train.report.html"), DataReportCommand.defaultOut(Path.of("d", "train.json")));
        assertEquals(Path.of("notes.txt.report.html"), DataReportCommand.defaultOut(Path.of("notes.txt")));
    }

    private Set<String> files() throws IOException {
        try (var list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new HashSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
