package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.DemoDataset;
import dev.tailor.model.Adapter;
import dev.tailor.model.Model;
import dev.tailor.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole runs of supervised fine-tuning on a tiny model: outputs, step 0, resume, early stopping, refusals. */
class SftRecipeTest {
    private static final Trainer.Listener QUIET = new Trainer.Listener() {
        @Override public void onStep(int step, int totalSteps, double loss, double seconds, long realTokens, long trainedTokens) { }
        @Override public void onEvent(Map<String, Object> event) { }
    };

    @TempDir
    static Path tmp;
    static Path model;
    static DemoDataset.Files data;

    @BeforeAll
    static void fixtures() {
        model = TrainingFixtures.tinyModel(tmp.resolve("tiny"));
        data = TrainingFixtures.tickets(tmp.resolve("data"), 24, 8);
    }

    private static SftRecipe.Summary train(TrainingConfig c, String resume) {
        return SftRecipe.run(c, resume, QUIET, line -> { });
    }

    private static List<JsonNode> metrics(Path output) throws IOException {
        List<JsonNode> events = new ArrayList<>();
        for (String line : Files.readAllLines(output.resolve("metrics.jsonl"))) {
            events.add(Json.MAPPER.readTree(line));
        }
        return events;
    }

    @Test
    void writesAPeftAdapterWithTheBaseTemplateMetricsChartAndCheckpoints() throws IOException {
        Path out = tmp.resolve("run");
        SftRecipe.Summary s = train(TrainingFixtures.config(model, data.train(), data.validation(), out), null);
        for (String f : List.of("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "training_args.json", "metrics.jsonl", "loss.png", "generation_config.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        // 24 examples, 2 rows per micro-batch, 2 micro-batches per step: 6 steps per epoch, 2 epochs
        assertEquals(12, s.result().totalSteps());
        assertTrue(Files.isDirectory(out.resolve("checkpoint-6")) && Files.isDirectory(out.resolve("checkpoint-12")));
        try (Stream<Path> files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".")), "temporary files left behind");
        }
        List<JsonNode> events = metrics(out);
        assertEquals(0, events.get(0).get("step").asInt());
        assertTrue(events.get(0).has("valid_loss") && events.get(0).has("valid_token_accuracy"));
        JsonNode trainEvent = events.stream().filter(e -> e.has("train_loss")).findFirst().orElseThrow();
        for (String k : List.of("step", "epoch", "train_loss", "lr", "grad_norm", "tokens_per_second")) {
            assertTrue(trainEvent.has(k), k);
        }
        double first = events.get(0).get("valid_loss").asDouble();
        assertTrue(s.result().bestValidLoss() < first, "validation loss did not improve: " + first + " -> " + s.result().bestValidLoss());
        JsonNode args = Json.readTree(out.resolve("training_args.json"));
        assertEquals(4, args.get("lora_r").asInt());
        assertEquals(1e-3, args.get("learning_rate").asDouble(), 1e-12);
        // r (in + out) per module, tiny = hidden 64, 4 heads of 16, 2 kv heads: q 64->64, k/v 64->32, o 64->64; 2 layers
        assertEquals(2L * 4 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64)), s.trainableParameters());
    }

    @Test
    void stepZeroValidationIsTheBaseModelBecauseLoraBStartsAtZero() throws IOException {
        Path out = tmp.resolve("step0");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), data.validation(), out);
        c.maxSteps = 1;
        c.saveStrategy = "no";
        train(c, null);
        double stepZero = metrics(out).get(0).get("valid_loss").asDouble();
        // the same loss from the base model alone, through the evaluation path with no adapter attached
        TrainingConfig probe = TrainingFixtures.config(model, data.validation(), null, tmp.resolve("unused"));
        double base = baseLoss(probe);
        assertEquals(base, stepZero, 1e-5);
    }

    private static double baseLoss(TrainingConfig c) {
        try (Model m = Model.load(model, Device.CPU, null)) {
            var tokenizer = dev.tailor.model.Tokenizer.fromModelDir(model);
            var encoder = new dev.tailor.data.ChatEncoder(dev.tailor.data.ChatTemplate.fromModelDir(model), tokenizer);
            var examples = dev.tailor.data.Dataset.load(c.data).examples().stream().map(e -> encoder.encode(e, c.maxSeqLen)).toList();
            var batches = dev.tailor.data.Batcher.epoch(examples, 0, c.seed, 1, c.maxSeqLen, false, false, 0);
            return Validation.evaluate(m, batches).loss();
        }
    }

    @Test
    void aResumedRunContinuesTheSameLossTrajectory() throws IOException {
        Path whole = tmp.resolve("whole");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), data.validation(), whole);
        c.saveStrategy = "steps";
        c.saveSteps = 4;
        train(c, null);
        // an interrupted run: what the uninterrupted one had on disk after step 4
        Path resumed = tmp.resolve("resumed");
        Files.createDirectories(resumed);
        copyTree(whole.resolve("checkpoint-4"), resumed.resolve("checkpoint-4"));
        List<String> upToFour = new ArrayList<>();
        for (String line : Files.readAllLines(whole.resolve("metrics.jsonl"))) {
            if (Json.MAPPER.readTree(line).get("step").asInt() <= 4) {
                upToFour.add(line);
            }
        }
        Files.write(resumed.resolve("metrics.jsonl"), upToFour);
        TrainingConfig r = TrainingFixtures.config(model, data.train(), data.validation(), resumed);
        r.saveStrategy = "steps";
        r.saveSteps = 4;
        train(r, SftRecipe.LATEST);
        List<JsonNode> expected = metrics(whole);
        List<JsonNode> actual = metrics(resumed);
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            for (String k : List.of("train_loss", "valid_loss", "grad_norm", "lr")) {
                if (expected.get(i).has(k)) {
                    assertEquals(expected.get(i).get(k).asDouble(), actual.get(i).get(k).asDouble(), 1e-5,
                            k + " at event " + i + ": " + expected.get(i) + " vs " + actual.get(i));
                }
            }
        }
    }

    @Test
    void resumeRefusesACheckpointOfAnotherBaseModel() throws IOException {
        Path other = TrainingFixtures.tinyModel(tmp.resolve("other-base"));
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) Json.readTree(other.resolve("config.json"));
        config.put("rms_norm_eps", 2e-6); // same shapes, another model
        Files.writeString(other.resolve("config.json"), Json.pretty(config));
        Path out = tmp.resolve("first");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), null, out);
        c.maxSteps = 2;
        c.saveStrategy = "steps";
        c.saveSteps = 1;
        train(c, null);
        TrainingConfig wrong = TrainingFixtures.config(other, data.train(), null, out);
        wrong.maxSteps = 2;
        TailorException e = assertThrows(TailorException.class, () -> train(wrong, SftRecipe.LATEST));
        assertTrue(e.getMessage().contains("another base model"), e.getMessage());
    }

    @Test
    void earlyStoppingStopsAfterPatienceEvaluationsWithoutImprovement() {
        Path out = tmp.resolve("early");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), data.validation(), out);
        c.lr = 0.5; // diverges: validation loss stops improving at once
        c.maxGradNorm = 0;
        c.evalSteps = 1;
        c.earlyStoppingPatience = 2;
        c.saveStrategy = "no";
        SftRecipe.Summary s = train(c, null);
        assertTrue(s.result().stoppedEarly());
        assertTrue(s.result().steps() < s.result().totalSteps());
        assertEquals(s.result().steps() - 2, s.result().bestStep());
    }

    @Test
    void refusesAnOutputThatHoldsARunAndUnknownTargetModules() {
        Path out = tmp.resolve("taken");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), null, out);
        c.maxSteps = 1;
        train(c, null);
        TailorException taken = assertThrows(TailorException.class, () -> train(c, null));
        assertTrue(taken.getMessage().contains("--resume"), taken.getMessage());
        TrainingConfig bad = TrainingFixtures.config(model, data.train(), null, tmp.resolve("bad-target"));
        bad.targetModules = List.of("qkv_proj");
        TailorException unknown = assertThrows(TailorException.class, () -> train(bad, null));
        assertTrue(unknown.getMessage().contains("q_proj"), unknown.getMessage());
        assertFalse(Files.exists(tmp.resolve("bad-target").resolve("adapter_model.safetensors")));
    }

    @Test
    void theSavedAdapterLoadsBackAndChangesTheModel() {
        Path out = tmp.resolve("reload");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), null, out);
        c.maxSteps = 3;
        train(c, null);
        try (Model m = Model.load(model, Device.CPU, null)) {
            int[] ids = {1, 5, 9, 30, 7, 2};
            double[] base = m.logprobs(ids);
            try (Adapter a = Adapter.load(out, m)) {
                m.attach(a);
                double[] tuned = m.logprobs(ids);
                double diff = 0;
                for (int i = 0; i < base.length; i++) {
                    diff = Math.max(diff, Math.abs(base[i] - tuned[i]));
                }
                assertTrue(diff > 1e-4, "the trained adapter changes nothing");
            }
        }
    }

    @Test
    void fullFineTuningWritesAModelDirectoryThatLoadsAndImproves() throws IOException {
        Path out = tmp.resolve("full");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), data.validation(), out);
        c.full = true;
        c.lr = 3e-3;
        c.saveStrategy = "no";
        SftRecipe.Summary s = train(c, null);
        try (Model base = Model.load(model, Device.CPU, null); Model tuned = Model.load(out, Device.CPU, null)) {
            assertEquals(base.parameterCount(), s.trainableParameters());
            assertEquals(base.parameterCount(), tuned.parameterCount());
        }
        assertTrue(s.result().bestValidLoss() < metrics(out).get(0).get("valid_loss").asDouble() - 0.1);
        assertFalse(Files.exists(out.resolve("adapter_config.json")));
    }

    @Test
    void qloraTrainsOnAnNf4BaseAndMergesIntoTheSixteenBitOne() throws IOException {
        Path out = tmp.resolve("qlora");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), data.validation(), out);
        c.qlora = true;
        c.saveStrategy = "no";
        SftRecipe.Summary s = train(c, null);
        double stepZero = metrics(out).get(0).get("valid_loss").asDouble(); // the NF4 base's own loss
        assertTrue(s.result().bestValidLoss() < stepZero - 0.05, stepZero + " -> " + s.result().bestValidLoss());
        try (Model nf4 = Model.load(model, Device.CPU, null, true)) {
            double bytesPerParameter = (double) nf4.decoderLinearBytes() / nf4.decoderLinearParameters();
            assertTrue(bytesPerParameter < 0.6, "NF4 keeps " + bytesPerParameter + " bytes per parameter");
        }
        // merging goes into the original f32 weights and checks parity against base + adapter there
        var report = dev.tailor.model.Merger.merge(model, out, tmp.resolve("qlora-merged"), null);
        assertTrue(report.maxAbsDifference() < 1e-3, "merge parity " + report.maxAbsDifference());
    }

    @Test
    void saveTotalLimitKeepsTheNewestCheckpoints() throws IOException {
        Path out = tmp.resolve("limited");
        TrainingConfig c = TrainingFixtures.config(model, data.train(), null, out);
        c.saveStrategy = "steps";
        c.saveSteps = 2;
        c.saveTotalLimit = 2;
        train(c, null);
        try (Stream<Path> dirs = Files.list(out)) {
            assertEquals(List.of("checkpoint-10", "checkpoint-12"),
                    dirs.map(d -> d.getFileName().toString()).filter(n -> n.startsWith("checkpoint-")).sorted().toList());
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
