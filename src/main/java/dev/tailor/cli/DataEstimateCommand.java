package dev.tailor.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.data.CostEstimate;
import dev.tailor.data.DataFormat;
import dev.tailor.data.TokenLengths;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.train.ThroughputProbe;
import dev.tailor.train.TrainingConfig;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data estimate}: billed training tokens and their price by OpenAI's formula, and the
 * training time on this machine projected from a few timed training steps on the file's own data.
 * Exit 0, 1 when the data has an error (the first one is named), 2 on usage errors.
 */
@Command(name = "estimate", mixinStandardHelpOptions = true,
        description = {"Billed training tokens (sum of min(max_seq_len, length) x epochs, OpenAI's epoch rule with --epochs auto),",
                "their price per 1K tokens, and the training time on this machine from a few timed training steps."})
final class DataEstimateCommand implements Callable<Integer> {
    private static final TrainingConfig DEFAULTS = new TrainingConfig();
    /** A probe, not a training run: more steps add little precision. */
    private static final int MAX_MEASURE_STEPS = 100;

    @Parameters(index = "0", paramLabel = "FILE", description = "training data: chat, completion, text or preference JSONL; never modified")
    Path file;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "the model to train: its tokenizer and chat template count the tokens")
    Path model;

    @Option(names = "--epochs", paramLabel = "N|auto", defaultValue = "auto",
            description = "passes over the data; auto = OpenAI's default for the file's size (3, more below 34 examples, fewer above 8,333)"
                    + " (default: ${DEFAULT-VALUE})")
    String epochs;

    @Option(names = "--price-per-1k", paramLabel = "USD", description = "dollars per 1,000 billed tokens (repeatable; default: the guide's"
            + " range, 0.008 and 0.080, as examples)")
    List<Double> pricesPer1k = new ArrayList<>();

    @Option(names = "--max-seq-len", paramLabel = "N", description = "tokens per sequence; longer ones are truncated and billed as N"
            + " (default: ${DEFAULT-VALUE}, as training)")
    int maxSeqLen = DEFAULTS.maxSeqLen;

    @Option(names = "--measure-steps", paramLabel = "N", description = "training steps to time after one warm-up step; 0 = no timing"
            + " and no projected time (default: ${DEFAULT-VALUE})")
    int measureSteps = 3;

    @Option(names = "--batch-size", description = "rows per training step (default: ${DEFAULT-VALUE})")
    int batchSize = DEFAULTS.batchSize;

    @Option(names = "--lora-r", description = "LoRA rank (default: ${DEFAULT-VALUE})")
    int loraR = DEFAULTS.loraR;

    @Option(names = "--target-modules", split = ",", description = "modules to adapt: comma list or all-linear (default: ${DEFAULT-VALUE})")
    List<String> targetModules = new ArrayList<>(DEFAULTS.targetModules);

    @Option(names = "--qlora", description = "time training on an NF4 base")
    boolean qlora;

    @Option(names = "--full", description = "time training of every weight")
    boolean full;

    @Option(names = "--device", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    String device = DEFAULTS.device;

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: one per core)")
    int threads;

    @Option(names = "--json", description = "print one JSON object {examples, epochs, epochs_rule, max_seq_len, tokens_per_epoch,"
            + " billed_tokens, over_max_seq_len, prices, throughput, projected_seconds}")
    boolean json;

    @Override
    public Integer call() {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        OptionalInt epochCount;
        TrainingConfig settings;
        ChatTemplate template;
        Tokenizer tokenizer;
        try {
            epochCount = parseEpochs(epochs);
            settings = checkUsage();
            template = ChatTemplate.fromModelDir(model);
            tokenizer = Tokenizer.fromModelDir(model);
        } catch (TailorException e) {
            return usageError(e.getMessage());
        }
        TokenLengths lengths;
        try (tokenizer) {
            ChatEncoder encoder = new ChatEncoder(template, tokenizer);
            int sampleSize = (int) Math.min(Integer.MAX_VALUE, (measureSteps + 1L) * batchSize); // a warm-up step and the timed ones
            lengths = TokenLengths.read(file, encoder, maxSeqLen, measureSteps == 0 ? 0 : sampleSize, settings.seed);
        }
        List<Double> prices = pricesPer1k.isEmpty() ? CostEstimate.EXAMPLE_PRICES_PER_1K : pricesPer1k;
        CostEstimate estimate = CostEstimate.of(lengths, epochCount, prices);
        if (measureSteps > 0) {
            if (!json) {
                System.err.println("timing " + measureSteps + " training steps after a warm-up step...");
            }
            Engine.configure(threads);
            estimate = estimate.withThroughput(ThroughputProbe.measure(settings, lengths.sample(), measureSteps));
        }
        if (json) {
            out.println(prettyInOrder(estimate.toJson()));
        } else {
            out.print(file + ": " + lengths.format().id() + "\n" + estimate.summary());
            if (pricesPer1k.isEmpty()) {
                out.println("(example rates from the guide's $0.008-0.080 per 1K; give your provider's with --price-per-1k)");
            }
            if (lengths.format() == DataFormat.PREFERENCE) {
                out.println("(a preference pair counts both sequences; DPO's reference forward pass is not in the timed steps)");
            }
        }
        return 0;
    }

    /** Indented, keys in the documented order (Json.pretty sorts them). */
    private static String prettyInOrder(Object value) {
        try {
            return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int usageError(String message) {
        System.err.println("error: " + message);
        System.err.flush();
        return DataValidateCommand.EXIT_USAGE;
    }

    /** "auto" for OpenAI's default, else a positive count. */
    private static OptionalInt parseEpochs(String value) {
        if (value.equals("auto")) {
            return OptionalInt.empty();
        }
        try {
            int n = Integer.parseInt(value);
            if (n > 0) {
                return OptionalInt.of(n);
            }
        } catch (NumberFormatException e) {
            // reported below with the fix
        }
        throw new TailorException("--epochs " + value + ": give a positive number or auto");
    }

    /** Checks every option before anything is read; returns the training settings the timing uses. */
    private TrainingConfig checkUsage() {
        if (!Files.isRegularFile(file)) {
            throw new TailorException(file + ": file not found; check the path");
        }
        if (!Files.isDirectory(model)) {
            throw new TailorException("--model " + model + ": not a directory");
        }
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
}
