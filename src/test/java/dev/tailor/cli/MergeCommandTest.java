package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.JsonArrays;
import dev.tailor.model.Adapter;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.LoraWeights;
import dev.tailor.model.Model;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tailor merge} end to end: the merged directory answers as the base with its adapter does. */
class MergeCommandTest {
    static final String TOKEN_IDS = "3,140,7,501,22,64,300,9,77,128,5";

    @TempDir
    static Path tmp;
    static Path model;
    static Path adapter;

    @BeforeAll
    static void modelAndAdapter() {
        model = tmp.resolve("tiny");
        CliRun init = CliRun.of("init-model", model.toString(), "--preset", "tiny", "--seed", "3");
        assertEquals(0, init.exitCode(), init.err());
        adapter = tmp.resolve("adapter");
        try (Model m = Model.load(model, Device.CPU, null);
             Adapter a = Adapter.create(m, AdapterConfig.forTraining(8, 16, 0, List.of("q_proj", "v_proj", "down_proj"), false, "tiny"), 4);
             PointerScope scope = new PointerScope()) {
            Random random = new Random(6);
            for (LoraWeights w : a.modules().values()) {
                float[] values = new float[(int) w.b().numel()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (random.nextGaussian() * 0.05);
                }
                w.b().detach().copy_(Tensors.fromFloats(values, w.b().size(0), w.b().size(1)));
            }
            a.save(adapter);
        }
    }

    static double[] logprobs(String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(0, r.exitCode(), r.err());
        return JsonArrays.doubles(parse(r.out()).get("logprobs"));
    }

    static JsonNode parse(String json) {
        try {
            return Json.MAPPER.readTree(json);
        } catch (IOException e) {
            throw new AssertionError(json, e);
        }
    }

    @Test
    void theMergedModelGivesTheLogprobsOfBasePlusAdapter() {
        Path merged = tmp.resolve("merged");
        CliRun r = CliRun.of("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", merged.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("wrote " + merged) && r.out().contains("6 weights") && r.out().contains("float32"), r.out());
        assertTrue(r.out().contains("parity:") && r.out().contains("(tolerance 0.00100)"), r.out());

        double[] withAdapter = logprobs("logprobs", "--model", model.toString(), "--adapter", adapter.toString(), "--token-ids", TOKEN_IDS);
        double[] base = logprobs("logprobs", "--model", model.toString(), "--token-ids", TOKEN_IDS);
        double[] fromMerged = logprobs("logprobs", "--model", merged.toString(), "--token-ids", TOKEN_IDS);
        double adapterEffect = 0;
        for (int i = 0; i < withAdapter.length; i++) {
            assertEquals(withAdapter[i], fromMerged[i], 1e-4, "logprob " + i);
            adapterEffect = Math.max(adapterEffect, Math.abs(withAdapter[i] - base[i]));
        }
        assertTrue(adapterEffect > 0.01, "the adapter must change the logprobs for this to prove anything: " + adapterEffect);
    }

    @Test
    void aBf16MergeIsWrittenInBf16() {
        Path merged = tmp.resolve("merged-bf16");
        CliRun r = CliRun.of("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", merged.toString(), "--dtype", "bf16");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("bfloat16", Json.readTree(merged.resolve("config.json")).get("torch_dtype").asText());
        double[] withAdapter = logprobs("logprobs", "--model", model.toString(), "--adapter", adapter.toString(), "--token-ids", TOKEN_IDS);
        double[] fromMerged = logprobs("logprobs", "--model", merged.toString(), "--token-ids", TOKEN_IDS);
        for (int i = 0; i < withAdapter.length; i++) {
            assertEquals(withAdapter[i], fromMerged[i], 0.1, "logprob " + i); // bf16 weights and activations
        }
    }

    @Test
    void aNonEmptyOutputIsReplacedOnlyWithForce() throws IOException {
        Path out = Files.createDirectories(tmp.resolve("occupied"));
        Files.writeString(out.resolve("notes.txt"), "mine");
        CliRun refused = CliRun.of("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", out.toString());
        assertEquals(1, refused.exitCode());
        assertTrue(refused.errorLine().contains("--force"), refused.err());
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));

        CliRun forced = CliRun.of("merge", "--model", model.toString(), "--adapter", adapter.toString(), "--output", out.toString(), "--force");
        assertEquals(0, forced.exitCode(), forced.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertTrue(Files.notExists(out.resolve("notes.txt")));
    }

    @Test
    void aMissingAdapterIsOneErrorLine() {
        CliRun r = CliRun.of("merge", "--model", model.toString(), "--adapter", tmp.resolve("nope").toString(),
                "--output", tmp.resolve("never").toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.errorLine().contains("--adapter"), r.err());
        assertTrue(Files.notExists(tmp.resolve("never")));
    }

    @Test
    void helpListsMerge() {
        assertTrue(CliRun.of("--help").out().contains("merge"));
    }
}
