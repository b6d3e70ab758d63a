package dev.tailor.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.DataFormat;
import dev.tailor.train.TrainingConfig;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
    @Parameters(index = "0", paramLabel = "FILE", description = "training data: chat, completion, text or preference JSONL; never modified")
    Path file;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "the model to train: its tokenizer and chat template count the tokens")
    Path model;

    @Option(names = "--max-seq-len", paramLabel = "N", description = "tokens per sequence; longer ones are truncated and billed as N"
            + " (default: ${DEFAULT-VALUE}, as training)")
    int maxSeqLen = new TrainingConfig().maxSeqLen;

    @Mixin
    EstimateOptions options;

    @Option(names = "--json", description = "print one JSON object {examples, epochs, epochs_rule, max_seq_len, tokens_per_epoch,"
            + " billed_tokens, over_max_seq_len, prices, throughput, projected_seconds}")
    boolean json;

    @Override
    public Integer call() {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        TrainingConfig settings;
        ModelEncoder modelEncoder;
        try {
            checkUsage();
            settings = options.check(file, model, maxSeqLen);
            modelEncoder = ModelEncoder.open(model);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        EstimateOptions.Estimate estimate;
        try (modelEncoder) {
            estimate = options.estimate(settings, modelEncoder.encoder(), !json);
        }
        if (json) {
            out.println(prettyInOrder(estimate.cost().toJson()));
        } else {
            DataFormat format = estimate.lengths().format();
            out.print(file + ": " + format.id() + "\n" + estimate.cost().summary());
            if (options.examplePrices()) {
                out.println("(example rates from the guide's $0.008-0.080 per 1K; give your provider's with --price-per-1k)");
            }
            if (format == DataFormat.PREFERENCE) {
                out.println("(a preference pair counts both sequences; DPO's reference forward pass is not in the timed steps)");
            }
        }
        return 0;
    }

    /** Indented, keys in the documented order (Json.pretty sorts them). */
    static String prettyInOrder(Object value) {
        try {
            return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }


    private void checkUsage() {
        if (!Files.isRegularFile(file)) {
            throw new TailorException(file + ": file not found; check the path");
        }
        if (!Files.isDirectory(model)) {
            throw new TailorException("--model " + model + ": not a directory");
        }
    }
}
