package dev.tailor.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.AtomicFiles;
import dev.tailor.Directories;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.SafetensorsCheckpoint;
import dev.tailor.tensor.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Merges a LoRA adapter into its base model ({@code W' = W + scaling * B @ A}) and writes the result
 * as a complete Hugging Face directory, then proves it: the merged model's log-probabilities must
 * match base + adapter applied unmerged. The base weights are always read from the base
 * directory's 16/32-bit safetensors, so a QLoRA adapter merges into the original base, never into
 * dequantized NF4 weights (SPECS.md, lesson 5).
 */
public final class Merger {
    /** Parity tolerance (max |logprob difference|) for fp32 output: only the order of fp32 operations differs. */
    static final double F32_TOLERANCE = 1e-3;
    /**
     * 16-bit output is held to what 16-bit rounding costs this very model: base + adapter served
     * unmerged on the bf16 base already differs from fp32 by some amount (the rounding cost), and
     * the merged model may differ by up to {@value #ROUNDING_FACTOR} times that. Measured on random
     * adapters (r 8, alpha 16, B ~ N(0, 0.005..1)): the merged difference was 0.68-1.61 times the
     * rounding cost (tiny preset, 4 seeds: 0.002-0.2; smollm2-135m: 0.02 and, for B ~ N(0, 1), 0.8).
     * A fixed bound cannot work: the reference fixture qwen2-lora costs 0.18 in bf16 with or
     * without merging, a random tiny adapter 0.003.
     */
    static final double ROUNDING_FACTOR = 3;
    /** The smallest 16-bit tolerance: a chance-low rounding cost must not refuse a merge (f16 has no measured cost). */
    static final double HALF_TOLERANCE = 1e-2;
    /** Shard size of the merged weights, as "2GB" means to Hugging Face. */
    static final long MAX_SHARD_BYTES = 2_000_000_000L;
    private static final int PARITY_SEQUENCES = 3;
    private static final int PARITY_TOKENS = 64;
    private static final long PARITY_SEED = 20_261_128L;
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json");

    /**
     * What a merge wrote and how closely the merged model reproduces base + adapter. Log-probability differences are maxima over the parity sequences, measured against base +
     * adapter computed unmerged in fp32.
     * @param maxAbsDifference the merged model's difference
     * @param maxAbsAdapterEffect the base model's difference: how much there was to preserve
     * @param roundingCost the difference of base + adapter computed unmerged in the output dtype
     *     (0 for f32): what 16-bit rounding costs without any merge
     */
    public record MergeReport(Path outDir, DType dtype, int tensorsMerged, double maxAbsDifference,
                              double tolerance, double maxAbsAdapterEffect, double roundingCost) {}

    private Merger() {}

    /**
     * Writes base + adapter merged into {@code outDir} (replacing whatever is there) in {@code dtype}
     * (null: the base's stored dtype), computing each merged weight in fp32 and rounding it once.
     * Then compares the merged model's log-probabilities on three fixed 64-token sequences with base
     * + adapter computed unmerged in fp32 (so the check holds the base in fp32 once: 4 bytes per
     * parameter). Nothing appears at {@code outDir} unless the check passes: everything is written
     * to a temporary sibling directory and renamed at the end.
     */
    public static MergeReport merge(Path baseDir, Path adapterDir, Path outDir, DType dtype) {
        return merge(baseDir, adapterDir, outDir, dtype, null);
    }

    /** As {@link #merge(Path, Path, Path, DType)} with an explicit parity tolerance (null: by dtype). */
    static MergeReport merge(Path baseDir, Path adapterDir, Path outDir, DType dtype, Double tolerance) {
        checkOutput(baseDir, adapterDir, outDir);
        DType out = dtype != null ? dtype : storedDtype(baseDir);
        if (out != DType.F32 && out != DType.BF16 && out != DType.F16) {
            throw new TailorException("merge dtype " + out.safetensorsName + ": merged models are written as f32, bf16 or f16");
        }
        // f16 is computed in f32 (exactly widened), as Model.load does: CPU fp16 products are unusably slow
        DType compute = out == DType.F16 ? DType.F32 : out;

        Path tmp = temporarySibling(outDir);
        try {
            Adapter adapter;
            int[][] sequences;
            double[][] exact;
            double effect;
            try (Model base = Model.load(baseDir, Device.CPU, DType.F32)) {
                adapter = Adapter.load(adapterDir, base);
                try {
                    sequences = paritySequences(base.config);
                    double[][] unadapted = logprobs(base, sequences);
                    base.attach(adapter);
                    exact = logprobs(base, sequences);
                    effect = maxAbsDifference(unadapted, exact);
                } catch (RuntimeException e) {
                    adapter.close();
                    throw e;
                } finally {
                    base.detachAdapter();
                }
            }
            int merged;
            try (adapter) {
                merged = writeMergedWeights(baseDir, adapter, tmp, out);
            }
            copyModelFiles(baseDir, adapterDir, tmp, out);
            // f16 weights are computed in f32, so an f16 base costs nothing unmerged: only the floor applies
            double roundingCost = out == DType.BF16 ? maxAbsDifference(exact, unmergedLogprobs(baseDir, adapterDir, out, sequences)) : 0;
            double limit = tolerance != null ? tolerance
                    : out == DType.F32 ? F32_TOLERANCE : Math.max(HALF_TOLERANCE, ROUNDING_FACTOR * roundingCost);
            double difference;
            try (Model result = Model.load(tmp, Device.CPU, compute)) {
                difference = maxAbsDifference(exact, logprobs(result, sequences));
            }
            if (!(difference <= limit)) {
                throw new TailorException("merging " + adapterDir + " into " + baseDir + ": the merged model's log-probabilities differ "
                        + "from base + adapter by up to " + String.format(Locale.ROOT, "%.3g (tolerance %.3g for %s)", difference, limit, out.torchName())
                        + "; nothing was written to " + outDir + (out == DType.F32
                                ? "; the merge did not reproduce the adapter: please report this as a bug"
                                : "; the adapter's update is too large for " + out.torchName() + " weights: merge in f32 (--dtype f32)"));
            }
            Directories.replace(tmp, outDir);
            return new MergeReport(outDir, out, merged, difference, limit, effect, roundingCost);
        } finally {
            Directories.deleteRecursively(tmp);
        }
    }

    /** Refuses an output that would overwrite (or sit above) the inputs it is made from. */
    private static void checkOutput(Path baseDir, Path adapterDir, Path outDir) {
        Path out = real(outDir);
        for (Path input : List.of(baseDir, adapterDir)) {
            if (real(input).startsWith(out)) {
                throw new TailorException("--output " + outDir + " would replace " + input + "; choose a new directory for the merged model");
            }
        }
        if (Files.exists(outDir) && !Files.isDirectory(outDir)) {
            throw new TailorException("--output " + outDir + " is a file; choose a directory for the merged model");
        }
    }

    private static Path real(Path p) {
        try {
            return Files.exists(p) ? p.toRealPath() : p.toAbsolutePath().normalize();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resolve " + p + ": " + e.getMessage(), e);
        }
    }

    /** The dtype of the base checkpoint's embedding: what a merge writes unless told otherwise. */
    private static DType storedDtype(Path baseDir) {
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(baseDir)) {
            return checkpoint.entry("model.embed_tokens.weight").dtype();
        }
    }

    /** Deterministic token sequences spread over the whole vocabulary, within the model's context. */
    private static int[][] paritySequences(ModelConfig config) {
        SplittableRandom random = new SplittableRandom(PARITY_SEED);
        int length = Math.min(PARITY_TOKENS, config.contextLength());
        int[][] sequences = new int[PARITY_SEQUENCES][length];
        for (int[] sequence : sequences) {
            for (int i = 0; i < length; i++) {
                sequence[i] = random.nextInt(config.vocabSize());
            }
        }
        return sequences;
    }

    private static double[][] logprobs(Model model, int[][] sequences) {
        double[][] out = new double[sequences.length][];
        for (int i = 0; i < sequences.length; i++) {
            out[i] = model.logprobs(sequences[i]);
        }
        return out;
    }

    /** Base + adapter applied unmerged, the base loaded in {@code dtype}. */
    private static double[][] unmergedLogprobs(Path baseDir, Path adapterDir, DType dtype, int[][] sequences) {
        try (Model base = Model.load(baseDir, Device.CPU, dtype);
             Adapter adapter = Adapter.load(adapterDir, base)) {
            base.attach(adapter);
            return logprobs(base, sequences);
        }
    }

    /** The largest absolute difference, NaN if any value is NaN (a NaN must fail the check, not vanish in max). */
    private static double maxAbsDifference(double[][] a, double[][] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                double d = Math.abs(a[i][j] - b[i][j]);
                if (Double.isNaN(d)) {
                    return d;
                }
                max = Math.max(max, d);
            }
        }
        return max;
    }

    /** Every base tensor in {@code dtype}; adapted weights as fp32 W + scaling * B @ A, rounded once. Returns how many were merged. */
    private static int writeMergedWeights(Path baseDir, Adapter adapter, Path dir, DType dtype) {
        int merged = 0;
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(baseDir);
             PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new TreeMap<>();
            for (String name : checkpoint.names()) {
                LoraWeights lora = name.endsWith(".weight") ? adapter.modules().get(name.substring(0, name.length() - ".weight".length())) : null;
                if (lora == null) {
                    tensors.put(name, checkpoint.load(name, dtype));
                } else {
                    tensors.put(name, checkpoint.load(name, DType.F32).add(lora.delta()).to(dtype.scalarType()));
                    merged++;
                }
            }
            if (merged != adapter.modules().size()) {
                throw new IllegalStateException("merged " + merged + " of " + adapter.modules().size() + " adapted weights");
            }
            SafetensorsWriter.writeSharded(dir, tensors, MAX_SHARD_BYTES);
        }
        return merged;
    }

    /**
     * config.json with the new dtype, and what else a Hugging Face directory carries. Tokenizer files
     * come from the adapter directory when it ships them (what it was trained with), else from the
     * base; an adapter that ships a chat template decides the template alone, as {@code --adapter} does.
     */
    private static void copyModelFiles(Path baseDir, Path adapterDir, Path dir, DType dtype) {
        ObjectNode config = (ObjectNode) Json.readTree(baseDir.resolve("config.json"));
        config.put("torch_dtype", dtype.torchName());
        if (config.has("dtype")) { // transformers v5 renamed the key
            config.put("dtype", dtype.torchName());
        }
        AtomicFiles.writeString(dir.resolve("config.json"), Json.pretty(config) + "\n");
        copyIfPresent(baseDir.resolve("generation_config.json"), dir.resolve("generation_config.json"));
        for (String name : TOKENIZER_FILES) {
            Path fromAdapter = adapterDir.resolve(name);
            copyIfPresent(Files.isRegularFile(fromAdapter) ? fromAdapter : baseDir.resolve(name), dir.resolve(name));
        }
        boolean adapterTemplate = Files.isRegularFile(adapterDir.resolve("chat_template.jinja"))
                || Files.isRegularFile(adapterDir.resolve("tokenizer_config.json"));
        copyIfPresent((adapterTemplate ? adapterDir : baseDir).resolve("chat_template.jinja"), dir.resolve("chat_template.jinja"));
    }

    private static void copyIfPresent(Path source, Path target) {
        if (Files.isRegularFile(source)) {
            AtomicFiles.write(target, out -> Files.copy(source, out));
        }
    }

    private static Path temporarySibling(Path outDir) {
        Path absolute = outDir.toAbsolutePath().normalize();
        try {
            Files.createDirectories(absolute.getParent());
            Path tmp = Files.createTempDirectory(absolute.getParent(), "." + absolute.getFileName() + ".merging-");
            if (Files.getFileStore(tmp).supportsFileAttributeView(PosixFileAttributeView.class)) {
                // temporary directories are owner-only; the merged model is an ordinary directory others may read
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            return tmp;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a directory next to " + outDir + ": " + e.getMessage(), e);
        }
    }

}
