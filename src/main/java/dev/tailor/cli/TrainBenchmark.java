package dev.tailor.cli;

import dev.tailor.Directories;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.data.Batch;
import dev.tailor.data.Batcher;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.data.Dataset;
import dev.tailor.data.GeneratedModel;
import dev.tailor.data.TokenizedExample;
import dev.tailor.model.ModelConfig;
import dev.tailor.model.ModelPreset;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.MachinePeaks;
import dev.tailor.train.SftRecipe;
import dev.tailor.train.Trainer;
import dev.tailor.train.TrainingConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"LoRA training speed of a preset-shaped model as MFU against the bf16 GEMM throughput measured in the same run,",
                "and packing against padding to max length on a mixed-length chat set (30-500 tokens per example, log-uniform),",
                "each measured twice in the order packed, padded, padded, packed."})
final class TrainBenchmark implements Callable<Integer> {
    /** Steps before the measured ones: the first two pay for page faults of a growing heap, JIT and kernel selection (17 and 12 s, then 7.5-8). */
    private static final int WARM_UP = 2;

    @Option(names = "--preset", defaultValue = "qwen2.5-0.5b")
    String preset;

    @Option(names = "--seq-len", defaultValue = "512")
    int seqLen;

    @Option(names = "--batch-size", defaultValue = "4")
    int batchSize;

    @Option(names = "--steps", defaultValue = "4", description = "measured steps per configuration, after " + WARM_UP + " warm-up steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--qlora", description = "also measure QLoRA (NF4 base)")
    boolean qlora;

    @Option(names = "--threads", defaultValue = "0")
    int threads;

    /**
     * The reference for MFU: the highest bf16 GEMM throughput measured so far in this run (at the start and
     * after each configuration). This VM's throughput drifts (480-1330 GFLOP/s within minutes); the highest
     * is the conservative denominator, where the measurements around one configuration could both be slow.
     */
    private double highestGemm;

    @Override
    public Integer call() throws IOException {
        Engine.configure(threads);
        ModelPreset p = ModelPreset.parse(preset);
        System.out.println("machine: " + Runtime.getRuntime().availableProcessors() + " cores; " + Engine.describe());
        highestGemm = MachinePeaks.gemmGflops(DType.BF16, 2048, Device.CPU);
        System.out.printf(Locale.ROOT, "measured: GEMM 2048^3 bf16 %.0f GFLOP/s%n", highestGemm);
        Path dir = Files.createTempDirectory("tailor-bench-train-");
        try {
            Path model = dir.resolve("model");
            GeneratedModel.write(model, p, 0, DType.BF16);
            Path data = writeChatSet(dir.resolve("chat.jsonl"), (steps + WARM_UP) * batchSize * 8);
            System.out.printf(Locale.ROOT, "model: %s bf16; LoRA r=16 on q,k,v,o; %d-token rows, %d rows per step; FLOPs counted: 2 per "
                    + "multiply-add, forward and input-gradient through the frozen weights (2+2 x params x tokens), lm_head at trained "
                    + "positions likewise, LoRA forward + both gradients (6 x r(in+out)), causal attention forward + backward "
                    + "(3 x 4 x heads x head_dim x keys attended)%n", p.id, seqLen, batchSize);
            // packed, padded, padded, packed: a VM's speed can drift by tens of percent within minutes, and this
            // order cancels a steady drift out of the ratio (one run each had it swing from 1.02 to 1.28)
            Run packed = measure("LoRA, packed", model, data, dir, true, false);
            Run padded = measure("LoRA, padded to max length", model, data, dir, false, false);
            Run paddedAgain = measure("LoRA, padded to max length, again", model, data, dir, false, false);
            Run packedAgain = measure("LoRA, packed, again", model, data, dir, true, false);
            System.out.printf(Locale.ROOT, "packing vs padding to max length: %.2fx trained tokens/s over the epoch "
                            + "(%.2fx on the measured steps alone, whose few batches of random examples vary); each the mean of "
                            + "the two runs of each, measured in the order packed, padded, padded, packed%n",
                    (packed.epochTrainedPerSecond + packedAgain.epochTrainedPerSecond) / (padded.epochTrainedPerSecond + paddedAgain.epochTrainedPerSecond),
                    (packed.trainedPerSecond + packedAgain.trainedPerSecond) / (padded.trainedPerSecond + paddedAgain.trainedPerSecond));
            if (qlora) {
                measure("QLoRA (NF4 base), packed", model, data, dir, true, true);
            }
        } finally {
            Directories.deleteRecursively(dir);
        }
        return 0;
    }

    /**
     * Seconds per measured step, trained tokens per second on those steps, and over the whole epoch of the
     * chat set: its trained tokens over its batches at the measured seconds per step (a step's time
     * depends on its shape, rows x length, far more than on its content).
     */
    private record Run(double secondsPerStep, double trainedPerSecond, double epochTrainedPerSecond) {}

    private Run measure(String name, Path model, Path data, Path dir, boolean packing, boolean nf4) throws IOException {
        TrainingConfig c = new TrainingConfig();
        c.model = model;
        c.data = data;
        c.output = dir.resolve("out-" + name.replaceAll("[^a-z]", ""));
        c.loraR = 16;
        c.loraAlpha = 32;
        c.loraDropout = 0.05;
        c.targetModules = List.of("q_proj", "k_proj", "v_proj", "o_proj");
        c.qlora = nf4;
        c.epochs = 1;
        c.batchSize = batchSize;
        c.gradAccum = 1;
        c.lr = 2e-4;
        c.lrScheduler = "constant";
        c.maxSeqLen = seqLen;
        c.packing = packing;
        c.padding = packing ? "longest" : "max_length";
        c.maxSteps = steps + WARM_UP;
        c.seed = 1;
        c.loggingSteps = 1000;
        c.saveStrategy = "no";
        List<Batch> batches = plannedBatches(c);
        double[] flops = new double[steps + WARM_UP];
        ModelConfig mc = ModelConfig.load(model);
        for (int i = 0; i < flops.length; i++) {
            flops[i] = flops(mc, batches.get(i), 16);
        }
        ProcessMemory.resetPeak();
        List<double[]> timings = new ArrayList<>(); // seconds, trained tokens, flops
        SftRecipe.Summary s = SftRecipe.run(c, null, new Trainer.Listener() {
            @Override
            public void onStep(int step, int total, double loss, double seconds, long realTokens, long trainedTokens) {
                if (step > WARM_UP) {
                    timings.add(new double[] {seconds, trainedTokens, flops[step - 1]});
                }
            }

            @Override
            public void onEvent(Map<String, Object> event) { }
        }, line -> { });
        double seconds = timings.stream().mapToDouble(t -> t[0]).sum();
        double trained = timings.stream().mapToDouble(t -> t[1]).sum();
        double gflops = timings.stream().mapToDouble(t -> t[2]).sum() / seconds / 1e9;
        highestGemm = Math.max(highestGemm, MachinePeaks.gemmGflops(DType.BF16, 2048, Device.CPU));
        System.out.printf(Locale.ROOT, "%s: %.2f s/step, %.0f trained tokens/s, %.0f GFLOP/s = MFU %.0f%% of the bf16 GEMM peak "
                        + "(%.0f GFLOP/s, the highest measured in this run so far, this configuration's included); peak RSS %.0f MiB%n",
                name, seconds / timings.size(), trained / seconds, gflops, 100 * gflops / highestGemm, highestGemm, ProcessMemory.peakRssMiB());
        if (nf4) {
            try (var m = dev.tailor.model.Model.load(model, Device.CPU, null, true)) {
                System.out.printf(Locale.ROOT, "QLoRA base: decoder linear weights %.3f bytes/parameter resident (%.0f MiB for %.0fM parameters); "
                                + "embeddings and norms stay bf16%n", (double) m.decoderLinearBytes() / m.decoderLinearParameters(),
                        m.decoderLinearBytes() / 1048576.0, m.decoderLinearParameters() / 1e6);
            }
        }
        double epochTrained = batches.stream().mapToLong(Batch::trainedTokens).sum();
        double epochSeconds = batches.size() * seconds / timings.size();
        System.out.printf(Locale.ROOT, "  epoch of the chat set: %d batches, %.0f trained tokens, %.0f s at that pace = %.0f trained tokens/s%n",
                batches.size(), epochTrained, epochSeconds, epochTrained / epochSeconds);
        return new Run(seconds / timings.size(), trained / seconds, epochTrained / epochSeconds);
    }

    /** The batches the run will train on, rebuilt the same way (same data, seed, epoch) to count their FLOPs. */
    private static List<Batch> plannedBatches(TrainingConfig c) {
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(c.model)) {
            ChatEncoder encoder = new ChatEncoder(ChatTemplate.fromModelDir(c.model), tokenizer);
            List<TokenizedExample> examples = Dataset.load(c.data).examples().stream().map(e -> encoder.encode(e, c.maxSeqLen)).toList();
            return Batcher.epoch(examples, 0, c.seed, c.batchSize, c.maxSeqLen, c.packing, c.padding.equals("max_length"),
                    tokenizer.padTokenId().orElse(0));
        }
    }

    /** Useful FLOPs of one training step (padding excluded), by the formula printed above. */
    private static double flops(ModelConfig c, Batch b, int rank) {
        double h = c.hiddenSize();
        double q = (double) c.numHeads() * c.headDim();
        double kv = (double) c.numKvHeads() * c.headDim();
        double linear = c.numLayers() * (h * (q + 2 * kv) + q * h + 3 * h * c.intermediateSize());
        double lora = c.numLayers() * rank * ((h + q) + 2 * (h + kv) + (q + h));
        double attended = 0;
        for (int i = 0; i < b.ids().length; i++) {
            if (b.segments()[i] != 0) {
                attended += b.positions()[i] + 1;
            }
        }
        double real = b.realTokens();
        double trained = b.trainedTokens();
        return 4 * linear * real + 4 * h * c.vocabSize() * trained + 6 * lora * real + 3 * 4 * c.numLayers() * q * attended;
    }

    /** A chat set for training: see {@link BenchText#chatLine}. */
    private static Path writeChatSet(Path file, int n) {
        SplittableRandom random = new SplittableRandom(7);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n; i++) {
            out.append(BenchText.chatLine(random, null)).append('\n');
        }
        AtomicFiles.writeString(file, out.toString());
        return file;
    }
}
