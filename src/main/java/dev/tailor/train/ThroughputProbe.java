package dev.tailor.train;

import dev.tailor.Directories;
import dev.tailor.TailorException;
import dev.tailor.data.Batch;
import dev.tailor.data.CostEstimate;
import dev.tailor.data.TokenizedExample;
import dev.tailor.model.Model;
import dev.tailor.model.Tokenizer;
import dev.tailor.model.TrainableWeights;
import dev.tailor.tensor.Engine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

/**
 * Measures how fast this machine trains a model on a file's data: a few real optimizer steps of
 * the {@link Trainer}, with the model, trainable weights and batches built as {@code tailor train
 * sft} builds them ({@link SftRecipe}, {@link StepPlan}), the first step untimed (it pays for page
 * faults, allocator growth and kernel selection). Nothing is kept: the run writes into a temporary
 * directory that is deleted afterwards.
 *
 * <p>Each step is one micro-batch (gradient accumulation 1), so a step's time is that batch's
 * forward, backward and optimizer update; with LoRA the update is negligible next to the rest, with
 * full fine-tuning a run with gradient accumulation updates less often than measured here.
 */
public final class ThroughputProbe {
    private ThroughputProbe() {}

    /**
     * @param settings training settings: model, device, --full/--qlora, LoRA rank, alpha, dropout and
     *     target modules, batch size, max_seq_len, packing and padding, seed; data names the file in
     *     messages; output, epochs, schedule, logging and saving are not used
     * @param sample sequences of the file, encoded and truncated as training encodes them, each with a trained token
     * @param steps timed steps (after the warm-up step); the sample is cycled as epochs when it is short
     */
    public static CostEstimate.Throughput measure(TrainingConfig settings, List<TokenizedExample> sample, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be positive: " + steps);
        }
        if (sample.isEmpty()) {
            throw new TailorException(settings.data + ": no example has a token to train on after truncation to --max-seq-len "
                    + settings.maxSeqLen);
        }
        TrainingConfig c = probeConfig(settings, steps + 1);
        c.validate();
        try {
            c.output = Files.createTempDirectory("tailor-throughput-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(c.model); Model model = SftRecipe.loadModel(c, tokenizer)) {
            for (TokenizedExample t : sample) {
                model.checkTokens(t.ids(), c.data + ":" + t.line());
            }
            List<StepPlan.Step> plan = StepPlan.of(sample, c, SftRecipe.padId(tokenizer));
            Timing timing = new Timing(plan);
            try (TrainableWeights weights = SftRecipe.trainable(c, model)) {
                new Trainer(model, weights, c, plan, List.of(), "", "", timing).run(null);
            }
            return new CostEstimate.Throughput(timing.examples / timing.seconds, timing.tokens / timing.seconds, steps,
                    c.device, Engine.threads(), describe(c));
        } finally {
            Directories.deleteRecursively(c.output);
        }
    }

    /** A copy of the settings that matter for speed, as a short run of one micro-batch per step that saves
     * nothing; the caller sets the output to a scratch directory. */
    private static TrainingConfig probeConfig(TrainingConfig s, int steps) {
        TrainingConfig c = new TrainingConfig();
        c.model = s.model;
        c.data = s.data;
        c.device = s.device;
        c.full = s.full;
        c.qlora = s.qlora;
        c.loraR = s.loraR;
        c.loraAlpha = s.loraAlpha;
        c.loraDropout = s.loraDropout;
        c.targetModules = s.targetModules;
        c.useRslora = s.useRslora;
        c.batchSize = s.batchSize;
        c.maxSeqLen = s.maxSeqLen;
        c.packing = s.packing;
        c.padding = s.padding;
        c.seed = s.seed;
        c.gradAccum = 1;
        c.maxSteps = steps;
        c.loggingSteps = steps;
        c.saveStrategy = "no";
        return c;
    }

    private static String describe(TrainingConfig c) {
        String method = c.full ? "full fine-tuning" : (c.qlora ? "QLoRA" : "LoRA") + " r " + c.loraR + " on " + String.join(",", c.targetModules);
        return method + ", batch " + c.batchSize + (c.packing ? ", packed" : ", padded to the " + (c.padding.equals("max_length")
                ? "max length" : "longest"));
    }

    /** Sums the steps after the first: seconds, non-padding tokens, sequences. */
    private static final class Timing implements Trainer.Listener {
        private final List<StepPlan.Step> plan;
        double seconds;
        double tokens;
        double examples;

        Timing(List<StepPlan.Step> plan) {
            this.plan = plan;
        }

        @Override
        public void onStep(int step, int totalSteps, double loss, double stepSeconds, long realTokens, long trainedTokens) {
            if (step > 1) {
                seconds += stepSeconds;
                tokens += realTokens;
                examples += plan.get(step - 1).batches().stream().mapToInt(Batch::examples).sum();
            }
        }

        @Override
        public void onEvent(Map<String, Object> event) {}
    }
}
