package dev.tailor.train;

import dev.tailor.AtomicFiles;
import dev.tailor.data.DemoDataset;
import dev.tailor.data.GeneratedModel;
import dev.tailor.model.ModelPreset;
import dev.tailor.tensor.DType;
import java.nio.file.Path;
import java.util.List;

/** A tiny generated model and the demo's ticket data, shared by the training tests. */
final class TrainingFixtures {
    private TrainingFixtures() {}

    static Path tinyModel(Path dir) {
        GeneratedModel.write(dir, ModelPreset.TINY, 3, DType.F32);
        return dir;
    }

    static DemoDataset.Files tickets(Path dir, int train, int validation) {
        return DemoDataset.write(dir, 11, train, validation, 8);
    }

    /** A config with small, fast settings; tests change what they examine. */
    static TrainingConfig config(Path model, Path data, Path validation, Path output) {
        TrainingConfig c = new TrainingConfig();
        c.model = model;
        c.data = data;
        c.validation = validation;
        c.output = output;
        c.loraR = 4;
        c.loraAlpha = 8;
        c.loraDropout = 0.1;
        c.targetModules = List.of("q_proj", "k_proj", "v_proj", "o_proj");
        c.epochs = 2;
        c.batchSize = 2;
        c.gradAccum = 2;
        c.lr = 1e-3;
        c.lrScheduler = "linear";
        c.maxGradNorm = 1.0;
        c.maxSeqLen = 160;
        c.maxSteps = -1;
        c.seed = 5;
        c.loggingSteps = 1;
        c.saveStrategy = "epoch";
        c.saveSteps = 500;
        c.padding = "longest";
        return c;
    }

    static void writeLines(Path file, String... lines) {
        AtomicFiles.writeString(file, String.join("\n", lines) + "\n");
    }
}
