package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.data.Deduplication;
import dev.tailor.data.TransformOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data dedupe}: a copy of a data file without its exact and near-duplicate examples,
 * the first of each group kept (see {@link Deduplication}). Exit 0 when written, 1 when the file
 * has errors, 2 on usage errors.
 */
@Command(name = "dedupe", mixinStandardHelpOptions = true,
        description = "Write a copy of a data file without exact and near-duplicate examples, keeping the first of each group"
                + " (a new file; the input is untouched). Exit 0 written, 1 data problem, 2 usage error.")
final class DataDedupeCommand implements Callable<Integer> {
    /** Groups listed line by line; the rest are counted. */
    private static final int MAX_GROUPS_SHOWN = 20;

    @Parameters(index = "0", paramLabel = "FILE", description = "JSONL (.jsonl, .jsonl.gz) or JSON array file without errors")
    Path file;

    @Option(names = "--output", paramLabel = "PATH", description = "output (default: NAME.dedup.jsonl beside FILE; .gz compresses)")
    Path output;

    @Option(names = "--exact-only", description = "remove exact duplicates only, keep near-duplicates")
    boolean exactOnly;

    @Option(names = "--force", description = "replace an existing output file")
    boolean force;

    @Override
    public Integer call() {
        Path out = output != null ? output : TransformOutput.beside(file, "dedup");
        try {
            if (!Files.isRegularFile(file)) {
                throw new TailorException(file + ": file not found; check the path");
            }
            TransformOutput.check(file, out, "--output", force);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        Deduplication.Result r = Deduplication.dedupe(file, out, exactOnly);
        System.out.println(file + ": kept " + r.kept() + " of " + r.examples() + " examples, removed " + (r.exactRemoved() + r.nearRemoved())
                + " (exact duplicates: " + r.exactRemoved() + ", near-duplicates: " + r.nearRemoved() + ") -> " + out);
        for (Deduplication.Group g : r.groups().subList(0, Math.min(MAX_GROUPS_SHOWN, r.groups().size()))) {
            System.out.println("  line " + g.keptLine() + " kept; removed " + removed(g.exactLines(), "exact")
                    + (g.exactLines().isEmpty() || g.nearLines().isEmpty() ? "" : ", ") + removed(g.nearLines(), "near"));
        }
        if (r.groups().size() > MAX_GROUPS_SHOWN) {
            System.out.println("  ... and " + (r.groups().size() - MAX_GROUPS_SHOWN) + " more groups");
        }
        return 0;
    }

    /** "7, 12 (exact)", at most 10 lines named. */
    private static String removed(List<Integer> lines, String kind) {
        if (lines.isEmpty()) {
            return "";
        }
        String shown = lines.stream().limit(10).map(String::valueOf).collect(Collectors.joining(", "));
        return shown + (lines.size() > 10 ? " (+" + (lines.size() - 10) + " more)" : "") + " (" + kind + ")";
    }
}
