package dev.tailor.cli;

import dev.tailor.Directories;
import dev.tailor.model.Generator;
import dev.tailor.model.Model;
import dev.tailor.model.ModelPreset;
import dev.tailor.model.RandomModelWriter;
import dev.tailor.model.SamplingParams;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.MachinePeaks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Prefill and decode speed of a preset-shaped model, as fractions of measured GEMM throughput and memory bandwidth.")
final class GenerateBenchmark implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "qwen2.5-0.5b")
    String preset;

    @Option(names = "--dtype", defaultValue = "bf16", description = "f32 or bf16 (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--prompt-tokens", defaultValue = "256")
    int promptTokens;

    @Option(names = "--decode-tokens", defaultValue = "32")
    int decodeTokens;

    @Option(names = "--threads", defaultValue = "0")
    int threads;

    @Override
    public Integer call() throws IOException {
        Engine.configure(threads);
        ModelPreset p = ModelPreset.parse(preset);
        DType d = DType.parse(dtype);
        System.out.println("machine: " + Runtime.getRuntime().availableProcessors() + " cores; " + Engine.describe());
        double gemmBf16 = MachinePeaks.gemmGflops(DType.BF16, 2048, Device.CPU);
        double gemmF32 = MachinePeaks.gemmGflops(DType.F32, 2048, Device.CPU);
        double bandwidth = MachinePeaks.copyBandwidthGBs(1L << 29, Device.CPU);
        System.out.printf("measured: GEMM 2048^3 bf16 %.0f GFLOP/s, f32 %.0f GFLOP/s; copy bandwidth %.1f GB/s (read+write)%n",
                gemmBf16, gemmF32, bandwidth);
        Path dir = Files.createTempDirectory("tailor-bench-");
        try {
            RandomModelWriter.write(dir, p, 0, d, 0, 1, 0);
            try (Model model = Model.load(dir, Device.CPU, null)) {
                run(model, p, d, d == DType.BF16 ? gemmBf16 : gemmF32, bandwidth);
            }
        } finally {
            Directories.deleteRecursively(dir);
        }
        return 0;
    }

    private void run(Model model, ModelPreset p, DType d, double gemmPeak, double bandwidth) {
        Generator generator = new Generator(model, null);
        SplittableRandom random = new SplittableRandom(1);
        int[] prompt = random.ints(promptTokens, 0, p.vocabSize).toArray();
        SamplingParams one = SamplingParams.greedy(1, Set.of());
        generator.generate(prompt, one, null); // warm-up: kernel selection, page faults of the weights
        double ttft = best(3, () -> generator.generate(prompt, one, null));
        double prefillTokS = promptTokens / ttft;
        double prefillGflops = prefillFlops(model, promptTokens) / ttft / 1e9;
        // this VM's GEMM throughput drifts (one run measured half its usual peak at the start): measured
        // again right after the prefill, the higher of the two is the reference, as in bench train
        double reference = Math.max(gemmPeak, MachinePeaks.gemmGflops(d, 2048, Device.CPU));
        System.out.printf("model: %s %s, %.0fM parameters, %d-token prompt%n", p.id, d.torchName(),
                model.parameterCount() / 1e6, promptTokens);
        System.out.printf("prefill: %.0f tokens/s, %.0f GFLOP/s = %.0f%% of measured %s GEMM (%.0f GFLOP/s, the higher of the"
                        + " measurements before and after); time to first token %.0f ms%n",
                prefillTokS, prefillGflops, 100 * prefillGflops / reference, d.torchName(), reference, ttft * 1000);
        double boundTokS = bandwidth * 1e9 / weightBytesPerToken(model);
        for (int batch : new int[] {1, 8}) {
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < batch; i++) {
                prompts.add(random.ints(16, 0, p.vocabSize).toArray());
            }
            SamplingParams first = SamplingParams.greedy(1, Set.of());
            SamplingParams many = SamplingParams.greedy(decodeTokens + 1, Set.of());
            double t1 = best(2, () -> generator.generate(prompts, first, null));
            double tn = best(2, () -> generator.generate(prompts, many, null));
            double tokS = batch * decodeTokens / (tn - t1);
            System.out.printf("decode batch %d: %.1f tokens/s (%.1f per sequence) = %.0f%% of the memory-bandwidth bound (%.1f steps/s)%n",
                    batch, tokS, tokS / batch, 100 * (tokS / batch) / boundTokS, boundTokS);
        }
        System.out.printf("peak RSS: %.0f MiB%n", ProcessMemory.peakRssMiB());
    }

    /** 2 FLOPs per weight per token for every matmul, plus causal attention scores and values. */
    private static double prefillFlops(Model model, int tokens) {
        var c = model.config;
        double linear = 0;
        for (var l : model.linearLayers().values()) {
            linear += l.inFeatures() * (double) l.outFeatures();
        }
        double attention = 2.0 * 2 * c.numLayers() * (double) c.numHeads() * c.headDim() * tokens * (tokens + 1) / 2.0;
        double lmHead = 2.0 * c.hiddenSize() * (double) c.vocabSize(); // logits of the last position only
        return 2 * linear * tokens + attention + lmHead;
    }

    /** Bytes streamed from memory per decoded token: every linear weight plus the output embedding. */
    private static double weightBytesPerToken(Model model) {
        var c = model.config;
        double params = (double) c.hiddenSize() * c.vocabSize();
        for (var l : model.linearLayers().values()) {
            params += l.inFeatures() * (double) l.outFeatures();
        }
        return params * model.dtype.bytes;
    }

    private static double best(int reps, Runnable body) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            body.run();
            best = Math.min(best, (System.nanoTime() - start) / 1e9);
        }
        return best;
    }
}
