package dev.tailor.train;

import dev.tailor.TailorException;
import dev.tailor.data.Batch;
import dev.tailor.model.TrainableWeights;
import dev.tailor.model.Model;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Supervised fine-tuning (of a LoRA adapter or of every weight): the training loop and nothing else. Each optimizer
 * step accumulates its micro-batches' summed token losses divided by the step's total trained
 * tokens, clips the global gradient norm, and applies AdamW at the scheduled learning rate.
 * Logging, validation, checkpoints and early stopping happen between steps.
 */
public final class Trainer {
    /** What the caller sees while training runs (a progress bar, a log). */
    public interface Listener {
        /** @param seconds wall time of this step; @param realTokens its non-padding tokens; @param trainedTokens those with a loss */
        void onStep(int step, int totalSteps, double loss, double seconds, long realTokens, long trainedTokens);

        void onEvent(Map<String, Object> event);
    }

    /** @param bestValidLoss NaN without validation; @param stoppedEarly early stopping ended the run */
    public record Result(int steps, int totalSteps, double bestValidLoss, Integer bestStep, boolean stoppedEarly,
                         double seconds, long trainedTokens, Path lastCheckpoint) {}

    private static final long SEED_STRIDE = 1_000_003;

    private final Model model;
    private final TrainableWeights weights;
    private final TrainingConfig config;
    private final List<StepPlan.Step> plan;
    private final List<Batch> validation;
    private final String baseFingerprint;
    private final String dataFingerprint;
    private final Listener listener;

    /**
     * @param plan the run's steps ({@link StepPlan}); @param validation held-out batches, or empty
     * @param baseFingerprint identifies the base model, so a checkpoint cannot resume on another one
     * @param dataFingerprint identifies the data and batching settings that fix step N's batches
     */
    Trainer(Model model, TrainableWeights weights, TrainingConfig config, List<StepPlan.Step> plan, List<Batch> validation,
            String baseFingerprint, String dataFingerprint, Listener listener) {
        this.model = model;
        this.weights = weights;
        this.config = config;
        this.plan = plan;
        this.validation = validation;
        this.baseFingerprint = baseFingerprint;
        this.dataFingerprint = dataFingerprint;
        this.listener = listener;
    }

    /** Runs from the start, or from {@code resume} (a checkpoint directory) when it is not null. */
    Result run(Path resume) {
        Map<String, Tensor> params = weights.parameters();
        LrSchedule schedule = LrSchedule.of(config.lrScheduler, config.lr, config.warmupRatio, plan.size());
        Path metricsFile = config.output.resolve("metrics.jsonl");
        long start = System.nanoTime();
        Map<String, Tensor> best = null;
        try (AdamW optimizer = new AdamW(params, 0.9, 0.999, 1e-8, config.weightDecay)) {
            TrainerState state;
            MetricsLog metrics;
            Path lastCheckpoint = null;
            if (resume != null) {
                state = Checkpoint.readState(resume);
                checkResumable(resume, state);
                Checkpoint.restoreWeights(resume, params);
                Checkpoint.restoreOptimizer(resume, optimizer);
                best = Checkpoint.readBest(resume);
                metrics = MetricsLog.resume(metricsFile, state.step());
                lastCheckpoint = resume;
            } else {
                state = TrainerState.start(baseFingerprint, dataFingerprint);
                metrics = MetricsLog.create(metricsFile);
                if (!validation.isEmpty()) {
                    state = evaluate(state, 0, 0, metrics); // the base model's loss: LoRA B starts at zero
                    best = copyOf(params, null);
                }
            }
            boolean stoppedEarly = false;
            Window window = new Window();
            model.train(config.loraDropout);
            for (int s = state.step(); s < plan.size() && !stoppedEarly; s++) {
                StepPlan.Step step = plan.get(s);
                long stepStart = System.nanoTime();
                torch.manual_seed(config.seed * SEED_STRIDE + s);
                double loss = accumulate(step, window);
                double gradNorm = GradientClipping.clip(params.values(), config.maxGradNorm);
                double lr = schedule.lr(s);
                optimizer.step(lr);
                optimizer.zeroGrad();
                int done = s + 1;
                listener.onStep(done, plan.size(), loss, (System.nanoTime() - stepStart) / 1e9,
                        step.batches().stream().mapToLong(Batch::realTokens).sum(), step.trainedTokens());
                state = state.afterStep(done, step.progress());
                if (done % config.loggingSteps == 0 || done == plan.size()) {
                    metrics.add(window.drain(done, step.progress(), lr, gradNorm));
                    listener.onEvent(metrics.events().get(metrics.events().size() - 1));
                }
                boolean evaluate = !validation.isEmpty()
                        && (done == plan.size() || (config.evalSteps > 0 ? done % config.evalSteps == 0 : step.endsEpoch()));
                if (evaluate) {
                    state = evaluate(state, done, step.progress(), metrics);
                    if (Integer.valueOf(done).equals(state.bestStep())) {
                        best = copyOf(params, best);
                    }
                    stoppedEarly = config.earlyStoppingPatience > 0 && state.evalsWithoutImprovement() >= config.earlyStoppingPatience;
                    model.train(config.loraDropout);
                }
                boolean save = config.saveStrategy.equals("steps") ? done % config.saveSteps == 0
                        : config.saveStrategy.equals("epoch") && step.endsEpoch();
                if (save || (stoppedEarly && !config.saveStrategy.equals("no"))) {
                    lastCheckpoint = Checkpoint.save(config.output, state, weights, optimizer, best);
                    Checkpoint.prune(config.output, config.saveTotalLimit);
                }
            }
            model.eval();
            if (best != null) {
                restore(params, best); // the weights handed back are the best on validation
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Result(state.step(), plan.size(), state.bestValidLoss() == null ? Double.NaN : state.bestValidLoss(),
                    state.bestStep(), stoppedEarly, seconds, window.totalTrained, lastCheckpoint);
        } finally {
            if (best != null) {
                best.values().forEach(Tensor::close);
            }
        }
    }

    /** Forward and backward over the step's micro-batches; returns the step's mean token loss. */
    private double accumulate(StepPlan.Step step, Window window) {
        long tokens = step.trainedTokens();
        double sum = 0;
        for (Batch batch : step.batches()) {
            try (PointerScope scope = new PointerScope()) {
                sum += TokenLoss.backward(model, batch, tokens).sum();
            }
            window.add(batch);
        }
        window.addLoss(sum, tokens);
        return tokens == 0 ? Double.NaN : sum / tokens;
    }

    private TrainerState evaluate(TrainerState state, int step, double epoch, MetricsLog metrics) {
        model.eval();
        Validation.Result v = Validation.evaluate(model, validation);
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("step", step);
        event.put("epoch", round(epoch));
        event.put("valid_loss", v.loss());
        event.put("valid_token_accuracy", v.tokenAccuracy());
        metrics.add(event);
        listener.onEvent(event);
        return state.afterValidation(step, v.loss());
    }

    private void checkResumable(Path checkpoint, TrainerState state) {
        if (!baseFingerprint.equals(state.baseModelFingerprint())) {
            throw new TailorException(checkpoint + " was trained from another base model than " + config.model
                    + " (its config.json differs); resume with the --model it was trained from");
        }
        if (!dataFingerprint.equals(state.dataFingerprint())) {
            throw new TailorException(checkpoint + " was written with other data or batching settings (training file, --batch-size, "
                    + "--grad-accum, --max-seq-len, --packing, --padding, --seed, --epochs, --max-steps); resume with the same ones");
        }
        if (state.step() > plan.size()) {
            throw new TailorException(checkpoint + " is at step " + state.step() + " but this run has only " + plan.size() + " steps");
        }
    }

    /** Detached fp32 copies of the adapter weights, replacing (and closing) {@code previous}. */
    private static Map<String, Tensor> copyOf(Map<String, Tensor> params, Map<String, Tensor> previous) {
        if (previous != null) {
            previous.values().forEach(Tensor::close);
        }
        Map<String, Tensor> copy = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            params.forEach((name, t) -> copy.put(name, Tensors.keep(t.detach().clone())));
        }
        return copy;
    }

    private static void restore(Map<String, Tensor> params, Map<String, Tensor> values) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            params.forEach((name, t) -> t.copy_(values.get(name)));
        }
    }

    private static double round(double epoch) {
        return Math.round(epoch * 1e4) / 1e4;
    }

    /** Train loss and throughput since the last logging event. */
    private static final class Window {
        private double lossSum;
        private long lossTokens;
        private long realTokens;
        private long totalTrained;
        private long since = System.nanoTime();

        void add(Batch batch) {
            realTokens += batch.realTokens();
        }

        void addLoss(double sum, long tokens) {
            lossSum += sum;
            lossTokens += tokens;
            totalTrained += tokens;
        }

        double tokensPerSecond() {
            double seconds = (System.nanoTime() - since) / 1e9;
            return seconds > 0 ? realTokens / seconds : 0;
        }

        Map<String, Object> drain(int step, double epoch, double lr, double gradNorm) {
            Map<String, Object> event = new LinkedHashMap<>();
            event.put("step", step);
            event.put("epoch", round(epoch));
            event.put("train_loss", lossTokens == 0 ? Double.NaN : lossSum / lossTokens);
            event.put("lr", lr);
            event.put("grad_norm", gradNorm);
            event.put("tokens_per_second", Math.round(tokensPerSecond() * 10) / 10.0);
            lossSum = 0;
            lossTokens = 0;
            realTokens = 0;
            since = System.nanoTime();
            return event;
        }
    }
}
