package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.data.DemoDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tailor train sft as a user types it: flags, a YAML config, resuming, and refusals with one-line errors. */
class TrainCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static DemoDataset.Files data;

    @BeforeAll
    static void fixtures() {
        model = tmp.resolve("tiny");
        assertEquals(0, CliRun.of("init-model", model.toString(), "--preset", "tiny").exitCode());
        data = DemoDataset.write(tmp.resolve("data"), 3, 16, 8, 4);
    }

    private static String[] train(Path out, String... more) {
        String[] base = {"train", "sft", "--model", model.toString(), "--data", data.train().toString(), "--output", out.toString(),
                "--max-seq-len", "160", "--batch-size", "2", "--grad-accum", "2", "--lora-r", "4"};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    @Test
    void trainsAndPrintsTheSummary() {
        Path out = tmp.resolve("run");
        CliRun r = CliRun.of(train(out, "--validation", data.validation().toString(), "--epochs", "1"));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("trainable params: 3,584 || all params:"), r.out());
        assertTrue(r.out().contains("best validation loss"), r.out());
        assertTrue(r.out().contains("valid_loss"), "events are printed when there is no terminal:\n" + r.out());
        assertTrue(Files.isRegularFile(out.resolve("adapter_model.safetensors")));
        assertTrue(Files.isDirectory(out.resolve("checkpoint-4")));
    }

    @Test
    void yamlConfigSetsOptionsAndTheCommandLineWins() throws IOException {
        Path config = tmp.resolve("sft.yaml");
        Files.writeString(config, "lora_r: 8\nlora-alpha: 16\ntarget_modules: [q_proj, v_proj]\nepochs: 1\nmax_steps: 2\npacking: true\n");
        Path out = tmp.resolve("from-yaml");
        CliRun r = CliRun.of(train(out, "--config", config.toString(), "--lora-r", "2"));
        assertEquals(0, r.exitCode(), r.err());
        JsonNode args = Json.readTree(out.resolve("training_args.json"));
        assertEquals(2, args.get("lora_r").asInt(), "the command line wins over the file");
        assertEquals(model.toString(), args.get("model_name_or_path").asText());
        assertEquals(16.0, args.get("lora_alpha").asDouble());
        assertTrue(args.get("packing").asBoolean());
        assertEquals("[\"q_proj\",\"v_proj\"]", args.get("target_modules").toString());
        JsonNode adapter = Json.readTree(out.resolve("adapter_config.json"));
        assertEquals(2, adapter.get("r").asInt());
    }

    @Test
    void resumeContinuesFromTheLatestCheckpoint() {
        Path out = tmp.resolve("resume");
        assertEquals(0, CliRun.of(train(out, "--max-steps", "2", "--save-strategy", "steps", "--save-steps", "1")).exitCode());
        CliRun again = CliRun.of(train(out, "--max-steps", "2", "--save-strategy", "steps", "--save-steps", "1"));
        assertTrue(again.errorLine().contains("--resume"), again.err());
        CliRun resumed = CliRun.of(train(out, "--max-steps", "2", "--save-strategy", "steps", "--save-steps", "1", "--resume"));
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming from " + out.resolve("checkpoint-2")), resumed.out());
    }

    @Test
    void badInputIsOneLineAndWritesNoAdapter() throws IOException {
        Path broken = tmp.resolve("broken.jsonl");
        Files.writeString(broken, Files.readAllLines(data.train()).get(0) + "\n{\"messages\": [\n");
        Path out = tmp.resolve("bad");
        CliRun malformed = CliRun.of("train", "sft", "--model", model.toString(), "--data", broken.toString(), "--output", out.toString());
        assertEquals(1, malformed.exitCode());
        assertTrue(malformed.errorLine().contains("broken.jsonl:2"), malformed.err());

        CliRun target = CliRun.of(train(out, "--target-modules", "attn"));
        assertTrue(target.errorLine().contains("q_proj"), target.err());
        CliRun rank = CliRun.of(train(out, "--lora-r", "100"));
        assertTrue(rank.errorLine().contains("rank"), rank.err());
        CliRun yaml = CliRun.of(train(out, "--config", writeYaml("learning_rat: 0.1")));
        assertTrue(yaml.errorLine().contains("unknown option 'learning_rat'"), yaml.err());
        CliRun scheduler = CliRun.of(train(out, "--lr-scheduler", "wsd"));
        assertTrue(scheduler.errorLine().contains("--lr-scheduler"), scheduler.err());
        assertFalse(Files.exists(out.resolve("adapter_model.safetensors")));
    }

    private static String writeYaml(String content) throws IOException {
        Path f = Files.createTempFile(tmp, "config", ".yaml");
        Files.writeString(f, content + "\n");
        return f.toString();
    }
}
