package dev.tailor.train;

import dev.tailor.AtomicFiles;
import dev.tailor.Directories;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.model.TrainableWeights;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.SafetensorsFile;
import dev.tailor.tensor.SafetensorsWriter;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/**
 * {@code checkpoint-N/}: the trained weights as tools load them (a PEFT adapter, or a model
 * directory for full fine-tuning), the same parameters under their internal names for resuming,
 * the optimizer's moments, the best weights so far, and {@link TrainerState}. Written into a hidden temporary directory and
 * renamed when complete, so a run killed while saving leaves the previous checkpoint intact and no
 * half-written one (transformers' adapter-only checkpoints lose the optimizer: bug 7 of SPECS.md).
 */
final class Checkpoint {
    static final String STATE = "trainer_state.json";
    static final String OPTIMIZER = "optimizer.safetensors";
    static final String BEST = "best_weights.safetensors";
    /** The trained parameters under their internal names, which resuming reads (the PEFT/HF files are for people and tools). */
    static final String WEIGHTS = "trainable_weights.safetensors";
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");

    private Checkpoint() {}

    static Path save(Path output, TrainerState state, TrainableWeights weights, AdamW optimizer, Map<String, Tensor> best) {
        Path target = output.resolve("checkpoint-" + state.step());
        Path tmp = output.resolve(".checkpoint-" + state.step() + ".tmp");
        try {
            Directories.deleteRecursively(tmp);
            Files.createDirectories(tmp);
            weights.save(tmp);
            SafetensorsWriter.write(tmp.resolve(WEIGHTS), weights.parameters(), Map.of());
            SafetensorsWriter.write(tmp.resolve(OPTIMIZER), optimizer.state(), Map.of("steps", Long.toString(optimizer.steps())));
            if (best != null) {
                SafetensorsWriter.write(tmp.resolve(BEST), best, Map.of());
            }
            AtomicFiles.writeString(tmp.resolve(STATE), Json.pretty(state) + "\n");
            Directories.replace(tmp, target);
            return target;
        } catch (IOException | UncheckedIOException e) {
            deleteQuietly(tmp);
            throw new TailorException("cannot save checkpoint " + target + ": " + rootMessage(e)
                    + "; free disk space and resume from the last complete checkpoint with --resume");
        }
    }

    /** Deletes all but the newest {@code keep} checkpoints (each carries the best weights, so none is special). */
    static void prune(Path output, int keep) {
        if (keep <= 0) {
            return;
        }
        try (Stream<Path> dirs = Files.list(output)) {
            List<Path> all = dirs.filter(d -> NAME.matcher(d.getFileName().toString()).matches())
                    .sorted(Comparator.comparingInt(Checkpoint::stepOf)).toList();
            all.subList(0, Math.max(0, all.size() - keep)).forEach(Directories::discard);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete old checkpoints in " + output + ": " + e.getMessage(), e);
        }
    }

    /** The newest complete checkpoint of an output directory. */
    static Optional<Path> latest(Path output) {
        if (!Files.isDirectory(output)) {
            return Optional.empty();
        }
        try (Stream<Path> dirs = Files.list(output)) {
            return dirs.filter(d -> NAME.matcher(d.getFileName().toString()).matches() && Files.isRegularFile(d.resolve(STATE)))
                    .max(Comparator.comparingInt(Checkpoint::stepOf));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static TrainerState readState(Path checkpoint) {
        Path file = checkpoint.resolve(STATE);
        if (!Files.isRegularFile(file)) {
            throw new TailorException(checkpoint + ": no " + STATE + "; --resume takes a checkpoint-N directory written by tailor train");
        }
        return Json.MAPPER.convertValue(Json.readTree(file), TrainerState.class);
    }

    /** Copies the checkpoint's weights into the trainable ones (same names and shapes, checked). */
    static void restoreWeights(Path checkpoint, Map<String, Tensor> parameters) {
        Path file = checkpoint.resolve(WEIGHTS);
        try (SafetensorsFile f = SafetensorsFile.open(file); NoGradGuard noGrad = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> p : parameters.entrySet()) {
                String name = p.getKey();
                if (!f.contains(name) || !Arrays.equals(f.entry(name).shape(), Tensors.shape(p.getValue()))) {
                    throw new TailorException(file + ": no tensor '" + name + "' of shape " + Arrays.toString(Tensors.shape(p.getValue()))
                            + "; the checkpoint was written with other settings (--lora-r, --target-modules, --full)");
                }
                try (PointerScope scope = new PointerScope()) {
                    p.getValue().copy_(f.load(name, DType.F32));
                }
            }
        }
    }

    static void restoreOptimizer(Path checkpoint, AdamW optimizer) {
        Path file = checkpoint.resolve(OPTIMIZER);
        try (SafetensorsFile f = SafetensorsFile.open(file); PointerScope scope = new PointerScope()) {
            optimizer.load(loadAll(f), Long.parseLong(f.metadata().getOrDefault("steps", "0")));
        }
    }

    /** The best adapter weights saved with the checkpoint, if any, as new tensors owned by the caller. */
    static Map<String, Tensor> readBest(Path checkpoint) {
        Path file = checkpoint.resolve(BEST);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        Map<String, Tensor> best = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file); PointerScope scope = new PointerScope()) {
            loadAll(f).forEach((name, t) -> best.put(name, Tensors.keep(t)));
        }
        return best;
    }

    /** Every tensor of the file in fp32, owned by the caller's scope. */
    private static Map<String, Tensor> loadAll(SafetensorsFile f) {
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (String name : f.names()) {
            all.put(name, f.load(name, DType.F32));
        }
        return all;
    }


    private static int stepOf(Path checkpoint) {
        Matcher m = NAME.matcher(checkpoint.getFileName().toString());
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    private static void deleteQuietly(Path dir) {
        try {
            Directories.deleteRecursively(dir);
        } catch (UncheckedIOException ignored) {
            // reporting the original failure matters more
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
