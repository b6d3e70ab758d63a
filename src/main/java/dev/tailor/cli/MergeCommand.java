package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.model.Merger;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Engine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge a PEFT LoRA adapter into its base model and write a standalone Hugging Face model directory, "
                + "checked to give the same log-probabilities as base + adapter.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "base model directory (16/32-bit safetensors)")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "PEFT LoRA adapter directory")
    Path adapter;

    @Option(names = "--output", required = true, paramLabel = "DIR", description = "directory to write the merged model to")
    Path output;

    @Option(names = "--dtype", paramLabel = "f32|bf16", description = "dtype of the merged weights (default: the base's)")
    String dtype;

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: one per core)")
    int threads;

    @Option(names = "--force", description = "replace OUTPUT if it already holds files")
    boolean force;

    @Override
    public Integer call() throws IOException {
        for (Path dir : new Path[] {model, adapter}) {
            if (!Files.isDirectory(dir)) {
                throw new TailorException((dir == model ? "--model " : "--adapter ") + dir + ": not a directory");
            }
        }
        DType d = dtype == null ? null : DType.parse(dtype);
        if (Files.isDirectory(output) && !force) {
            try (var files = Files.list(output)) {
                if (files.findAny().isPresent()) {
                    throw new TailorException("--output " + output + " is not empty; choose a new directory or pass --force");
                }
            }
        }
        Engine.configure(threads);
        Merger.MergeReport r = Merger.merge(model, adapter, output, d);
        System.out.println("wrote " + output + ": " + model + " with " + adapter + " merged into " + r.tensorsMerged()
                + " weights, " + r.dtype().torchName());
        String rounding = r.roundingCost() > 0
                ? String.format(Locale.ROOT, "; %s rounding alone costs %.3g", r.dtype().torchName(), r.roundingCost()) : "";
        System.out.println(String.format(Locale.ROOT,
                "parity: log-probabilities differ from base + adapter (unmerged, fp32) by at most %.3g (tolerance %.3g%s); "
                        + "the adapter itself changes them by up to %.3g",
                r.maxAbsDifference(), r.tolerance(), rounding, r.maxAbsAdapterEffect()));
        return 0;
    }
}
