package dev.tailor.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Every setting of a supervised fine-tuning run, with the guide's defaults. One definition serves
 * the command line (picocli options, as HfArgumentParser turns TrainingArguments into flags),
 * YAML configs (the same names) and training_args.json (snake_case, as transformers writes it).
 */
public final class TrainingConfig {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "base model: a Hugging Face directory")
    @JsonProperty("model_name_or_path") @JsonSerialize(using = ToStringSerializer.class) public Path model;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "training examples (JSONL: messages, prompt/completion or text)")
    @JsonProperty("train_file") @JsonSerialize(using = ToStringSerializer.class) public Path data;

    @Option(names = "--validation", paramLabel = "FILE", description = "held-out examples for validation loss, early stopping and the best adapter")
    @JsonProperty("validation_file") @JsonSerialize(using = ToStringSerializer.class) public Path validation;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "where the adapter, checkpoints and metrics go")
    @JsonProperty("output_dir") @JsonSerialize(using = ToStringSerializer.class) public Path output;

    @Option(names = "--device", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    @JsonProperty("device") public String device = "cpu";

    @Option(names = "--lora-r", description = "LoRA rank (default: ${DEFAULT-VALUE})")
    @JsonProperty("lora_r") public int loraR = 16;

    @Option(names = "--lora-alpha", description = "LoRA alpha; scaling = alpha / r (default: ${DEFAULT-VALUE})")
    @JsonProperty("lora_alpha") public double loraAlpha = 32.0;

    @Option(names = "--lora-dropout", description = "dropout on the LoRA input (default: ${DEFAULT-VALUE})")
    @JsonProperty("lora_dropout") public double loraDropout = 0.05;

    @Option(names = "--target-modules", split = ",",
            description = "modules to adapt: comma list or all-linear (default: ${DEFAULT-VALUE})")
    @JsonProperty("target_modules") public List<String> targetModules = new ArrayList<>(List.of("q_proj", "k_proj", "v_proj", "o_proj"));

    @Option(names = "--use-rslora", description = "rank-stabilised scaling alpha / sqrt(r)")
    @JsonProperty("use_rslora") public boolean useRslora;

    @Option(names = "--qlora", description = "keep the frozen base in NF4 with double quantization and train LoRA on top")
    @JsonProperty("qlora") public boolean qlora;

    @Option(names = "--full", description = "train every weight instead of an adapter (small models; writes a model directory)")
    @JsonProperty("full_finetuning") public boolean full;

    @Option(names = "--epochs", description = "passes over the training data (default: ${DEFAULT-VALUE})")
    @JsonProperty("num_train_epochs") public int epochs = 3;

    @Option(names = "--batch-size", description = "rows per micro-batch (default: ${DEFAULT-VALUE})")
    @JsonProperty("per_device_train_batch_size") public int batchSize = 4;

    @Option(names = "--grad-accum", description = "micro-batches per optimizer step (default: ${DEFAULT-VALUE})")
    @JsonProperty("gradient_accumulation_steps") public int gradAccum = 4;

    @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})")
    @JsonProperty("learning_rate") public double lr = 2e-4;

    @Option(names = "--lr-scheduler", description = "linear, cosine or constant (default: ${DEFAULT-VALUE})")
    @JsonProperty("lr_scheduler_type") public String lrScheduler = "linear";

    @Option(names = "--warmup-ratio", description = "share of steps warming the learning rate up from 0 (default: ${DEFAULT-VALUE})")
    @JsonProperty("warmup_ratio") public double warmupRatio = 0.0;

    @Option(names = "--weight-decay", description = "AdamW decoupled weight decay (default: ${DEFAULT-VALUE})")
    @JsonProperty("weight_decay") public double weightDecay = 0.0;

    @Option(names = "--max-grad-norm", description = "clip the global gradient norm; 0 = off (default: ${DEFAULT-VALUE})")
    @JsonProperty("max_grad_norm") public double maxGradNorm = 1.0;

    @Option(names = "--max-seq-len", description = "tokens per example/row; longer examples are truncated (default: ${DEFAULT-VALUE})")
    @JsonProperty("max_seq_length") public int maxSeqLen = 512;

    @Option(names = "--packing", negatable = true, description = "pack several examples per row, each attending only to itself (default: ${DEFAULT-VALUE})")
    @JsonProperty("packing") public boolean packing = false;

    @Option(names = "--padding", description = "without packing, pad each micro-batch to its longest example or to --max-seq-len (max_length) (default: ${DEFAULT-VALUE})")
    @JsonProperty("padding") public String padding = "longest";

    @Option(names = "--max-steps", description = "stop after this many optimizer steps; overrides --epochs (default: off)")
    @JsonProperty("max_steps") public int maxSteps = -1;

    @Option(names = "--seed", description = "seed for initialisation, shuffling and dropout (default: ${DEFAULT-VALUE})")
    @JsonProperty("seed") public long seed = 42;

    @Option(names = "--logging-steps", description = "log train loss every N optimizer steps (default: ${DEFAULT-VALUE})")
    @JsonProperty("logging_steps") public int loggingSteps = 10;

    @Option(names = "--eval-steps", description = "validate every N steps; 0 = at the end of each epoch (default)")
    @JsonProperty("eval_steps") public int evalSteps = 0;

    @Option(names = "--save-strategy", description = "epoch, steps or no (default: ${DEFAULT-VALUE})")
    @JsonProperty("save_strategy") public String saveStrategy = "epoch";

    @Option(names = "--save-steps", description = "checkpoint every N steps with --save-strategy steps (default: ${DEFAULT-VALUE})")
    @JsonProperty("save_steps") public int saveSteps = 500;

    @Option(names = "--save-total-limit", description = "keep only the newest N checkpoints; 0 = keep all (default)")
    @JsonProperty("save_total_limit") public int saveTotalLimit = 0;

    @Option(names = "--early-stopping-patience", description = "stop when validation loss has not improved for N evaluations; 0 = off (default)")
    @JsonProperty("early_stopping_patience") public int earlyStoppingPatience = 0;

    /** Checks ranges before anything is loaded; names the option and the fix. */
    public void validate() {
        require(loraR > 0, "--lora-r must be positive");
        require(!(full && qlora), "--full and --qlora exclude each other: QLoRA freezes the base in 4 bits");
        require(loraAlpha > 0, "--lora-alpha must be positive");
        require(loraDropout >= 0 && loraDropout < 1, "--lora-dropout must be in [0, 1)");
        require(epochs > 0 || maxSteps > 0, "--epochs must be positive (or give --max-steps)");
        require(batchSize > 0, "--batch-size must be positive");
        require(gradAccum > 0, "--grad-accum must be positive");
        require(lr > 0 && Double.isFinite(lr), "--lr must be a positive number");
        require(warmupRatio >= 0 && warmupRatio <= 1, "--warmup-ratio must be in [0, 1]");
        require(weightDecay >= 0, "--weight-decay must not be negative");
        require(maxGradNorm >= 0, "--max-grad-norm must not be negative (0 turns clipping off)");
        require(maxSeqLen >= 2, "--max-seq-len must be at least 2");
        require(loggingSteps > 0, "--logging-steps must be positive");
        require(evalSteps >= 0, "--eval-steps must not be negative");
        require(Arrays.asList("epoch", "steps", "no").contains(saveStrategy), "--save-strategy must be epoch, steps or no, not '" + saveStrategy + "'");
        require(saveSteps > 0, "--save-steps must be positive");
        require(saveTotalLimit >= 0, "--save-total-limit must not be negative (0 keeps every checkpoint)");
        require(earlyStoppingPatience >= 0, "--early-stopping-patience must not be negative");
        require(earlyStoppingPatience == 0 || validation != null, "--early-stopping-patience needs --validation FILE");
        require(Arrays.asList("longest", "max_length").contains(padding), "--padding must be longest or max_length, not '" + padding + "'");
        require(Arrays.asList("linear", "cosine", "constant").contains(lrScheduler),
                "--lr-scheduler must be linear, cosine or constant, not '" + lrScheduler + "'");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new TailorException(message);
        }
    }
}
