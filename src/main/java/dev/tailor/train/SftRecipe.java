package dev.tailor.train;

import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.Batch;
import dev.tailor.data.Batcher;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.data.Dataset;
import dev.tailor.data.TokenizedExample;
import dev.tailor.model.Adapter;
import dev.tailor.model.FullWeights;
import dev.tailor.model.TrainableWeights;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.Model;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * {@code tailor train sft} from files to files: reads and encodes the data with the base model's
 * own chat template, creates the LoRA adapter (on an NF4 base for QLoRA), runs the {@link Trainer},
 * and writes the output directory: the adapter in PEFT format with the base's tokenizer files and
 * chat template beside it (so serving renders prompts exactly as training did), training_args.json,
 * metrics.jsonl, the loss chart and the checkpoints.
 */
public final class SftRecipe {
    /** Files copied from the base so the adapter directory serves with the same template and stop tokens. */
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "generation_config.json");

    /** What the run produced, for the summary. */
    public record Summary(long trainableParameters, long totalParameters, Trainer.Result result, int trainExamples,
                          int skippedExamples, int truncatedExamples, Path adapterDir) {
        public double trainablePercent() {
            return 100.0 * trainableParameters / totalParameters;
        }
    }

    /** Passed as {@code resume} to continue from the newest checkpoint of the output directory. */
    public static final String LATEST = "latest";

    private SftRecipe() {}

    /**
     * @param resume a checkpoint directory, {@link #LATEST} for the newest in the output directory, or null
     * @param log one-line notices (skipped examples, resumed step)
     */
    public static Summary run(TrainingConfig config, String resume, Trainer.Listener listener, Consumer<String> log) {
        config.validate();
        Path resumeFrom = resumeCheckpoint(config.output, resume);
        if (resumeFrom == null) {
            checkOutputFree(config.output);
        }
        Dataset trainSet = Dataset.load(config.data);
        Dataset validSet = config.validation == null ? null : Dataset.load(config.validation);
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(config.model); Model model = loadModel(config, tokenizer)) {
            ChatEncoder encoder = new ChatEncoder(ChatTemplate.fromModelDir(config.model), tokenizer);
            int pad = padId(tokenizer);
            Encoded train = encode(trainSet, encoder, model, config.maxSeqLen, log);
            Encoded valid = validSet == null ? null : encode(validSet, encoder, model, config.maxSeqLen, log);
            List<StepPlan.Step> plan = StepPlan.of(train.examples, config, pad);
            List<Batch> validBatches = valid == null ? List.of()
                    : Batcher.epoch(valid.examples, 0, config.seed, config.batchSize, config.maxSeqLen, config.packing, false, pad);
            try (TrainableWeights weights = trainable(config, model)) {
                Files.createDirectories(config.output);
                AtomicFiles.writeString(config.output.resolve("training_args.json"), Json.pretty(config) + "\n");
                if (resumeFrom != null) {
                    log.accept("resuming from " + resumeFrom);
                }
                Trainer trainer = new Trainer(model, weights, config, plan, validBatches, fingerprint(config.model.resolve("config.json")),
                        dataFingerprint(config), listener);
                Trainer.Result result = trainer.run(resumeFrom);
                weights.save(config.output);
                copyTokenizerFiles(config.model, config.output);
                MetricsLog metrics = MetricsLog.read(config.output.resolve("metrics.jsonl"));
                LossChart.write(config.output.resolve("loss.png"), "Loss: " + config.model.getFileName(),
                        metrics.series("train_loss"), metrics.series("valid_loss"));
                long total = model.parameterCount() + (config.full ? 0 : weights.parameterCount());
                return new Summary(weights.parameterCount(), total, result, train.examples.size(), train.skipped, train.truncated,
                        config.output);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The base model as training loads it (fp32 with --full, an NF4 base with --qlora), checked against its tokenizer. */
    static Model loadModel(TrainingConfig config, Tokenizer tokenizer) {
        Model model = Model.load(config.model, Device.parse(config.device), config.full ? DType.F32 : null, config.qlora);
        if (tokenizer.vocabSize() > model.vocabSize()) {
            model.close();
            throw new TailorException(config.model + ": the tokenizer has " + tokenizer.vocabSize() + " tokens but the model embeds "
                    + model.vocabSize() + "; tokenizer.json does not belong to these weights");
        }
        return model;
    }

    /** The id rows are padded with: the tokenizer's pad token, else EOS, else 0 (padding is never trained). */
    static int padId(Tokenizer tokenizer) {
        return tokenizer.padTokenId().orElse(tokenizer.eosTokenId().orElse(0));
    }

    /** LoRA on the (possibly NF4) base, attached to the model; or every weight with --full. */
    static TrainableWeights trainable(TrainingConfig config, Model model) {
        if (config.full) {
            return FullWeights.of(model);
        }
        AdapterConfig adapterConfig = AdapterConfig.forTraining(config.loraR, config.loraAlpha, config.loraDropout,
                config.targetModules, config.useRslora, config.model.toString());
        Adapter adapter = Adapter.create(model, adapterConfig, config.seed);
        model.attach(adapter);
        return adapter;
    }

    private record Encoded(List<TokenizedExample> examples, int skipped, int truncated) {}

    /** Encodes every example; one whose trained tokens truncation removed entirely is reported and left out. */
    private static Encoded encode(Dataset dataset, ChatEncoder encoder, Model model, int maxSeqLen, Consumer<String> log) {
        List<TokenizedExample> kept = new ArrayList<>();
        int skipped = 0;
        int truncated = 0;
        for (var example : dataset.examples()) {
            TokenizedExample t = encoder.encode(example, maxSeqLen);
            model.checkTokens(t.ids(), dataset.file() + ":" + example.line());
            truncated += t.truncated() ? 1 : 0;
            if (t.trainedTokens() == 0) {
                skipped++;
                log.accept(dataset.file() + ":" + example.line() + ": skipped: --max-seq-len " + maxSeqLen
                        + " truncates away every token that would be trained (raise --max-seq-len or shorten the example)");
            } else {
                kept.add(t);
            }
        }
        if (kept.isEmpty()) {
            throw new TailorException(dataset.file() + ": no example has a token to train on after truncation to --max-seq-len " + maxSeqLen);
        }
        if (truncated > 0) {
            log.accept(dataset.file() + ": " + truncated + " of " + dataset.size() + " examples truncated to " + maxSeqLen + " tokens");
        }
        return new Encoded(kept, skipped, truncated);
    }

    /** The newest complete checkpoint in a run's output directory, as on disk now (a rename makes one complete). */
    public static Optional<Path> latestCheckpoint(Path output) {
        return Checkpoint.latest(output);
    }

    private static Path resumeCheckpoint(Path output, String resume) {
        if (resume == null) {
            return null;
        }
        if (resume.equals(LATEST)) {
            return Checkpoint.latest(output).orElseThrow(() -> new TailorException(output
                    + ": no complete checkpoint-N to resume from; start without --resume"));
        }
        Path dir = Path.of(resume);
        if (!Files.isDirectory(dir)) {
            throw new TailorException("--resume " + resume + ": not a directory; give a checkpoint-N directory or no value for the latest");
        }
        return dir;
    }

    private static void checkOutputFree(Path output) {
        if (Files.isRegularFile(output.resolve("adapter_model.safetensors")) || Checkpoint.latest(output).isPresent()) {
            throw new TailorException(output + " already holds a training run; choose a new --output, or continue it with --resume");
        }
    }

    private static void copyTokenizerFiles(Path model, Path output) {
        for (String name : TOKENIZER_FILES) {
            Path source = model.resolve(name);
            if (Files.isRegularFile(source)) {
                AtomicFiles.write(output.resolve(name), target -> Files.copy(source, target));
            }
        }
    }

    private static String dataFingerprint(TrainingConfig c) {
        String settings = String.join("|", fingerprint(c.data), String.valueOf(c.batchSize), String.valueOf(c.gradAccum),
                String.valueOf(c.maxSeqLen), String.valueOf(c.packing), c.padding, String.valueOf(c.seed), String.valueOf(c.epochs),
                String.valueOf(c.maxSteps));
        return sha256(settings.getBytes(StandardCharsets.UTF_8));
    }

    private static String fingerprint(Path file) {
        try {
            return sha256(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage());
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
