package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's first command, whole: the tuned model must beat its base on tickets it never saw. */
class DemoCommandTest {
    @TempDir
    Path tmp;

    @Test
    void fineTuningImprovesHeldOutAccuracyAndTheSummaryIsJson() throws Exception {
        Path out = tmp.resolve("demo");
        CliRun r = CliRun.of("demo", "--json", "--output", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        JsonNode summary = Json.MAPPER.readTree(r.out());
        double base = summary.at("/base/exact_match").asDouble();
        double tuned = summary.at("/tuned/exact_match").asDouble();
        assertTrue(base <= 0.1 && tuned >= 0.9, "exact match base " + base + ", tuned " + tuned);
        assertTrue(summary.at("/tuned/loss").asDouble() < summary.at("/base/loss").asDouble());
        assertEquals(64, summary.at("/test_examples").asInt());
        for (String f : new String[] {"adapter/adapter_model.safetensors", "adapter/loss.png", "merged/model.safetensors",
                "merged/tokenizer.json", "data/test.jsonl"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
    }
}
