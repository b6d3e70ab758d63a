package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.CostEstimate;
import dev.tailor.data.TokenLengths;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.train.ThroughputProbe;
import dev.tailor.train.TrainingConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import picocli.CommandLine.Option;

/**
 * The cost-estimate options and computation shared by {@code tailor data estimate} and
 * {@code tailor data report}: billed tokens by OpenAI's formula, prices, and the time projected
 * from training steps timed on the file's own examples.
 */
final class EstimateOptions {
    private static final TrainingConfig DEFAULTS = new TrainingConfig();
    /** A probe, not a training run: more steps add little precision. */
    private static final int MAX_MEASURE_STEPS = 100;

    @Option(names = "--epochs", paramLabel = "N|auto", defaultValue = "auto",
            description = "passes over the data; auto = OpenAI's default for the file's size (3, more below 34 examples, fewer above 8,333)"
                    + " (default: ${DEFAULT-VALUE})")
    String epochs;

    @Option(names = "--price-per-1k", paramLabel = "USD", description = "dollars per 1,000 billed tokens (repeatable; default: the guide's"
            + " range, 0.008 and 0.080, as examples)")
    List<Double> pricesPer1k = new ArrayList<>();

    @Option(names = "--measure-steps", paramLabel = "N", description = "training steps to time after one warm-up step; 0 = no timing"
            + " and no projected time (default: ${DEFAULT-VALUE})")
    int measureSteps = 3;

    @Option(names = "--batch-size", description = "rows per timed training step (default: ${DEFAULT-VALUE})")
    int batchSize = DEFAULTS.batchSize;

    @Option(names = "--lora-r", description = "LoRA rank of the timed steps (default: ${DEFAULT-VALUE})")
    int loraR = DEFAULTS.loraR;

    @Option(names = "--target-modules", split = ",", description = "modules to adapt: comma list or all-linear (default: ${DEFAULT-VALUE})")
    List<String> targetModules = new ArrayList<>(DEFAULTS.targetModules);

    @Option(names = "--qlora", description = "time training on an NF4 base")
    boolean qlora;

    @Option(names = "--full", description = "time training of every weight")
    boolean full;

    @Option(names = "--device", description = "cpu or cuda, for the timed steps (default: ${DEFAULT-VALUE})")
    String device = DEFAULTS.device;

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: one per core)")
    int threads;

    /** Whether the user gave no price, so the guide's example rates are shown. */
    boolean examplePrices() {
        return pricesPer1k.isEmpty();
    }

    /**
     * Checks every option before anything is read (TailorException: a usage error) and returns the
     * training settings the timed steps use.
     */
    TrainingConfig check(Path file, Path model, int maxSeqLen) {
        parseEpochs();
        if (measureSteps < 0 || measureSteps > MAX_MEASURE_STEPS) {
            throw new TailorException("--measure-steps must be 0 (no timing) to " + MAX_MEASURE_STEPS);
        }
        for (double price : pricesPer1k) {
            if (!(price > 0) || Double.isInfinite(price)) {
                throw new TailorException("--price-per-1k " + price + ": give a positive number of dollars per 1,000 tokens");
            }
        }
        TrainingConfig c = new TrainingConfig();
        c.model = model;
        c.data = file;
        c.maxSeqLen = maxSeqLen;
        c.batchSize = batchSize;
        c.loraR = loraR;
        c.targetModules = targetModules;
        c.qlora = qlora;
        c.full = full;
        c.device = device;
        c.validate();
        if (measureSteps > 0) {
            Device.parse(device);
        }
        return c;
    }

    /**
     * Counts the file's tokens with the encoder and, unless --measure-steps 0, times training steps.
     *
     * @param progress whether to tell stderr that steps are being timed
     * @throws TailorException when the file has an error (its first FILE:LINE) or cannot be counted offline
     */
    Estimate estimate(TrainingConfig settings, ChatEncoder encoder, boolean progress) {
        int sampleSize = (int) Math.min(Integer.MAX_VALUE, (measureSteps + 1L) * batchSize); // a warm-up step and the timed ones
        TokenLengths lengths = TokenLengths.read(settings.data, encoder, settings.maxSeqLen, measureSteps == 0 ? 0 : sampleSize, settings.seed);
        CostEstimate estimate = CostEstimate.of(lengths, parseEpochs(), examplePrices() ? CostEstimate.EXAMPLE_PRICES_PER_1K : pricesPer1k);
        if (measureSteps > 0) {
            if (progress) {
                System.err.println("timing " + measureSteps + " training steps after a warm-up step...");
            }
            Engine.configure(threads);
            estimate = estimate.withThroughput(ThroughputProbe.measure(settings, lengths.sample(), measureSteps));
        }
        return new Estimate(lengths, estimate);
    }

    /** The token counts and the estimate made from them. */
    record Estimate(TokenLengths lengths, CostEstimate cost) {}

    /** "auto" for OpenAI's default, else a positive count. */
    private OptionalInt parseEpochs() {
        if (epochs.equals("auto")) {
            return OptionalInt.empty();
        }
        try {
            int n = Integer.parseInt(epochs);
            if (n > 0) {
                return OptionalInt.of(n);
            }
        } catch (NumberFormatException e) {
            // reported below with the fix
        }
        throw new TailorException("--epochs " + epochs + ": give a positive number or auto");
    }
}
