package dev.tailor.cli;

import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.DataSplit;
import dev.tailor.data.TransformOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data split}: a training and a validation file from one data file, deterministic
 * for a seed, with duplicates never on both sides (see {@link DataSplit}). Exit 0 when written, 1
 * when the data cannot be split (an error in the file, a side left empty), 2 on usage errors.
 */
@Command(name = "split", mixinStandardHelpOptions = true,
        description = "Split a data file into training and validation files (new files; the input is untouched). Exact and"
                + " near-duplicate examples stay on one side. Exit 0 written, 1 data problem, 2 usage error.")
final class DataSplitCommand implements Callable<Integer> {
    /** Answer classes printed; the rest are counted. */
    private static final int MAX_CLASSES_SHOWN = 20;

    @Parameters(index = "0", paramLabel = "FILE", description = "JSONL (.jsonl, .jsonl.gz) or JSON array file without errors")
    Path file;

    @Option(names = "--validation-ratio", required = true, paramLabel = "R", description = "share of examples for validation, e.g. 0.1")
    double ratio;

    @Option(names = "--seed", defaultValue = "" + DataSplit.DEFAULT_SEED, description = "the same seed gives the same split (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--stratify-by", paramLabel = "assistant",
            description = "assistant: keep the distribution of the final assistant answers (classes) the same on both sides")
    String stratifyBy;

    @Option(names = "--train-out", paramLabel = "PATH", description = "training output (default: NAME.train.jsonl beside FILE; .gz compresses)")
    Path trainOut;

    @Option(names = "--validation-out", paramLabel = "PATH", description = "validation output (default: NAME.validation.jsonl beside FILE)")
    Path validationOut;

    @Option(names = "--force", description = "replace existing output files")
    boolean force;

    @Override
    public Integer call() {
        Path train = trainOut != null ? trainOut : TransformOutput.beside(file, "train");
        Path validation = validationOut != null ? validationOut : TransformOutput.beside(file, "validation");
        try {
            checkUsage(train, validation);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        DataSplit.Result r = DataSplit.split(file, train, validation, ratio, seed, stratifyBy != null);
        int total = r.train() + r.validation();
        System.out.printf(Locale.ROOT, "split %s (%d examples, seed %d): %d train -> %s, %d validation (%.1f%%) -> %s%n",
                file, total, seed, r.train(), train, r.validation(), 100.0 * r.validation() / total, validation);
        if (r.groups() > 0) {
            System.out.println("duplicate groups kept wholly on one side: " + r.groups() + " (" + r.examplesInGroups() + " examples)");
        }
        if (!r.classes().isEmpty()) {
            System.out.printf(Locale.ROOT, "%-42s %7s %11s%n", "final answer", "train", "validation");
            r.classes().stream().limit(MAX_CLASSES_SHOWN).forEach(c ->
                    System.out.printf(Locale.ROOT, "%-42s %7d %11d%n", abbreviate(Json.compact(c.answer())), c.train(), c.validation()));
            if (r.classes().size() > MAX_CLASSES_SHOWN) {
                System.out.println("... and " + (r.classes().size() - MAX_CLASSES_SHOWN) + " more answers");
            }
        }
        return 0;
    }

    private void checkUsage(Path train, Path validation) {
        if (!Files.isRegularFile(file)) {
            throw new TailorException(file + ": file not found; check the path");
        }
        DataSplit.checkRatio(ratio);
        if (stratifyBy != null && !stratifyBy.equals("assistant")) {
            throw new TailorException("--stratify-by " + stratifyBy + ": unknown; the one choice is assistant (the final assistant answer)");
        }
        if (TransformOutput.sameFile(train, validation)) {
            throw new TailorException("--train-out and --validation-out name the same file " + train + "; give two names");
        }
        TransformOutput.check(file, train, "--train-out", force);
        TransformOutput.check(file, validation, "--validation-out", force);
    }

    private static String abbreviate(String text) {
        return text.length() <= 42 ? text : text.substring(0, 39) + "...";
    }

}
