package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tailor data estimate} on the tiny model: token sums counted independently, the projection, the JSON shape, errors. */
class DataEstimateCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path data;
    /** The untruncated token length of each example, from the template and tokenizer directly. */
    static List<Integer> lengths = new ArrayList<>();
    /** The tokens before each answer (the prompt with the assistant header): a max length up to this leaves nothing to train. */
    static List<Integer> promptLengths = new ArrayList<>();

    static final String[][] EXAMPLES = {
        {"Hi", "Hello! How can I help?"},
        {"My invoice shows the wrong amount.", "billing"},
        {"The app crashes when I open the settings page on my phone after the update.", "technical"},
        {"Reset my password please", "account"},
        {"Where is my parcel? " + "It was due last week. ".repeat(12), "shipping"},
        {"Thanks", "You are welcome."},
    };

    @BeforeAll
    static void fixtures() throws IOException {
        model = tmp.resolve("tiny");
        assertEquals(0, CliRun.of("init-model", model.toString(), "--preset", "tiny").exitCode());
        StringBuilder lines = new StringBuilder();
        ChatTemplate template = ChatTemplate.fromModelDir(model);
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(model)) {
            for (String[] e : EXAMPLES) {
                List<Map<String, Object>> messages = List.of(Map.of("role", "user", "content", e[0]), Map.of("role", "assistant", "content", e[1]));
                lines.append(Json.compact(Map.of("messages", messages))).append('\n');
                String rendered = template.render(messages, null, false, null);
                int bos = tokenizer.addBosToken() ? 1 : 0;
                lengths.add(bos + tokenizer.encode(rendered).length);
                promptLengths.add(bos + tokenizer.encode(template.render(messages.subList(0, 1), null, true, null)).length);
            }
        }
        data = Files.writeString(tmp.resolve("chat.jsonl"), lines);
    }

    static long sumTruncated(int maxLen) {
        return lengths.stream().mapToLong(n -> Math.min(maxLen, n)).sum();
    }

    static JsonNode json(CliRun r) throws IOException {
        assertEquals(0, r.exitCode(), r.err());
        return Json.MAPPER.readTree(r.out());
    }

    @Test
    void withoutTimingTheTokensAreTheTruncatedSumTimesOpenAisEpochs() throws IOException {
        int maxLen = 78;
        assertTrue(lengths.stream().anyMatch(n -> n > maxLen) && lengths.stream().anyMatch(n -> n < maxLen), lengths.toString());
        JsonNode j = json(CliRun.of("data", "estimate", data.toString(), "--model", model.toString(), "--max-seq-len", "78",
                "--measure-steps", "0", "--json"));

        List<String> keys = new ArrayList<>();
        j.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("examples", "epochs", "epochs_rule", "max_seq_len", "tokens_per_epoch", "billed_tokens", "over_max_seq_len",
                "skipped_sequences", "skipped_tokens_per_epoch", "prices", "throughput", "projected_seconds"), keys);
        assertEquals(6, j.get("examples").asInt());
        assertEquals(16, j.get("epochs").asInt(), "6 examples: min(25, 100 // 6)");
        assertEquals("auto", j.get("epochs_rule").asText());
        assertEquals(maxLen, j.get("max_seq_len").asInt());
        assertEquals(sumTruncated(maxLen), j.get("tokens_per_epoch").asLong());
        assertEquals(16 * sumTruncated(maxLen), j.get("billed_tokens").asLong());
        assertEquals(lengths.stream().filter(n -> n > maxLen).count(), j.get("over_max_seq_len").asLong());
        List<Integer> skipped = new ArrayList<>();
        for (int i = 0; i < lengths.size(); i++) {
            if (promptLengths.get(i) >= maxLen) {
                skipped.add(Math.min(maxLen, lengths.get(i)));
            }
        }
        assertTrue(promptLengths.stream().noneMatch(n -> Math.abs(n - maxLen) <= 1), "no boundary case: " + promptLengths);
        assertTrue(!skipped.isEmpty() && j.get("over_max_seq_len").asInt() > skipped.size(),
                "some examples lose their answer to truncation, some only part of it: " + lengths + " " + promptLengths);
        assertEquals(skipped.size(), j.get("skipped_sequences").asInt());
        assertEquals(skipped.stream().mapToLong(n -> n).sum(), j.get("skipped_tokens_per_epoch").asLong());
        assertEquals(2, j.get("prices").size());
        assertEquals(0.008, j.at("/prices/0/per_1k").asDouble());
        assertEquals(16 * sumTruncated(maxLen) / 1000.0 * 0.08, j.at("/prices/1/total").asDouble(), 1e-12);
        assertTrue(j.get("throughput").isNull() && j.get("projected_seconds").isNull(), j.toString());
    }

    @Test
    void timedStepsProjectTheBilledTokensAtTheMeasuredSpeed() throws IOException {
        JsonNode j = json(CliRun.of("data", "estimate", data.toString(), "--model", model.toString(), "--epochs", "2",
                "--price-per-1k", "0.5", "--measure-steps", "2", "--batch-size", "2", "--lora-r", "4", "--json"));

        assertEquals("given", j.get("epochs_rule").asText());
        assertEquals(2 * sumTruncated(512), j.get("billed_tokens").asLong());
        assertEquals(0, j.get("over_max_seq_len").asInt());
        assertEquals(0, j.get("skipped_sequences").asInt());
        assertEquals(2 * sumTruncated(512) / 1000.0 * 0.5, j.at("/prices/0/total").asDouble(), 1e-12);
        JsonNode speed = j.get("throughput");
        assertEquals(2, speed.get("steps_measured").asInt());
        assertTrue(speed.get("training").asText().startsWith("LoRA r 4 on q_proj,k_proj,v_proj,o_proj, batch 2"), speed.toString());
        double tokensPerSecond = speed.get("tokens_per_second").asDouble();
        assertTrue(tokensPerSecond > 0, speed.toString());
        // tokens per sequence of the timed batches lie within the file's lengths: real tokens, not padding or a count of steps
        double perSequence = tokensPerSecond / speed.get("examples_per_second").asDouble();
        assertTrue(perSequence >= lengths.stream().mapToInt(n -> n).min().orElseThrow()
                && perSequence <= lengths.stream().mapToInt(n -> n).max().orElseThrow(), perSequence + " " + lengths);
        double projected = j.get("projected_seconds").asDouble();
        assertTrue(projected > 0);
        double trainedOn = (j.get("tokens_per_epoch").asDouble() - j.get("skipped_tokens_per_epoch").asDouble()) * j.get("epochs").asInt();
        assertEquals(j.get("billed_tokens").asDouble(), trainedOn, "nothing is skipped at 512 tokens");
        assertEquals(trainedOn / tokensPerSecond, projected, 1e-9 * projected);
    }

    @Test
    void theTerminalSummaryNamesTheExampleRates() {
        CliRun r = CliRun.of("data", "estimate", data.toString(), "--model", model.toString(), "--measure-steps", "0");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith(data + ": chat\nexamples: 6\n"), r.out());
        assertTrue(r.out().contains(String.format("billed tokens: %,d (tokens per epoch x 16 epochs)", 16 * sumTruncated(512))), r.out());
        assertTrue(r.out().contains("price at $0.008 per 1K tokens: $") && r.out().contains("price at $0.08 per 1K tokens: $"), r.out());
        assertTrue(r.out().contains("give your provider's with --price-per-1k"), r.out());
        assertTrue(!r.out().contains("projected"), r.out());
    }

    @Test
    void aBadLineIsNamedWithTheAdviceToValidate() throws IOException {
        byte[] good = Files.readAllBytes(data);
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), new String(good) + "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n");

        CliRun r = CliRun.of("data", "estimate", bad.toString(), "--model", model.toString());

        assertEquals(1, r.exitCode(), r.err());
        assertTrue(r.errorLine().startsWith("error: " + bad + ":7: "), r.err());
        assertTrue(r.errorLine().endsWith("run `tailor data validate` on the file to see every problem"), r.err());
        assertArrayEquals(good, Files.readAllBytes(data));
    }

    @Test
    void usageErrorsExitTwoWithOneLine() {
        String file = data.toString();
        String dir = model.toString();
        assertUsage("--epochs 0: give a positive number or auto", file, "--model", dir, "--epochs", "0");
        assertUsage("--epochs three: give a positive number or auto", file, "--model", dir, "--epochs", "three");
        assertUsage("--measure-steps must be 0 (no timing) to 100", file, "--model", dir, "--measure-steps", "-1");
        assertUsage("--price-per-1k -1.0: give a positive number", file, "--model", dir, "--price-per-1k", "-1");
        assertUsage("--full and --qlora exclude each other", file, "--model", dir, "--full", "--qlora");
        assertUsage("--max-seq-len must be at least 2", file, "--model", dir, "--max-seq-len", "1");
        assertUsage("nope.jsonl: file not found", tmp.resolve("nope.jsonl").toString(), "--model", dir);
        assertUsage("--model " + tmp.resolve("none") + ": not a directory", file, "--model", tmp.resolve("none").toString());
        assertUsage("unknown device 'tpu'", file, "--model", dir, "--device", "tpu");
        assertEquals(2, CliRun.of("data", "estimate", file).exitCode(), "--model is required");
    }

    private static void assertUsage(String expected, String... args) {
        List<String> all = new ArrayList<>(List.of("data", "estimate"));
        all.addAll(List.of(args));
        CliRun r = CliRun.of(all.toArray(String[]::new));
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.errorLine().contains(expected), r.err());
    }
}
