package dev.tailor.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.DataReport;
import dev.tailor.data.ReportHtml;
import dev.tailor.train.TrainingConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data report}: the guide's data-quality checklist for a training file as a terminal
 * summary and one self-contained HTML file with the charts. Exit 0 when both files are usable
 * (checklist warnings allowed), 1 when one has errors (the report is still written), 2 on usage
 * errors.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "The data-quality checklist (consistency, diversity, accuracy, completeness, balance, length, leakage)"
                + " of a training file as a summary and one HTML file with charts. Exit 0 usable, 1 errors, 2 usage error.")
final class DataReportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "training data: JSONL (.jsonl, .jsonl.gz) or a JSON array; never modified")
    Path file;

    @Option(names = "--validation", paramLabel = "FILE", description = "validation data: checked too, and for prompts shared with FILE (leakage)")
    Path validation;

    @Option(names = "--model", paramLabel = "DIR", description = "model directory: lengths in tokens (its tokenizer and chat template),"
            + " truncation, and the cost estimate (tailor data estimate's options below)")
    Path model;

    @Option(names = "--max-seq-len", paramLabel = "N", description = "the training length to check truncation against (needs --model; default 512, as training)")
    Integer maxSeqLen;

    @Mixin
    EstimateOptions estimateOptions;

    @Option(names = "--out", paramLabel = "FILE.html", description = "where to write the HTML (default: FILE's name with .report.html, beside FILE)")
    Path out;

    @Option(names = "--force", description = "replace the HTML file if it exists")
    boolean force;

    @Option(names = "--json", description = "print the report as one JSON object instead of the summary (the HTML is written too)")
    boolean json;

    @Override
    public Integer call() {
        Path html = out != null ? out : defaultOut(file);
        int length = ModelEncoder.maxSeqLenOrTrainingDefault(maxSeqLen);
        TrainingConfig estimateSettings;
        try {
            checkUsage(html);
            estimateSettings = model == null ? null : estimateOptions.check(file, model, length);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        ModelEncoder modelEncoder;
        try {
            modelEncoder = model == null ? null : ModelEncoder.open(model);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        try (modelEncoder) {
            ChatEncoder encoder = modelEncoder == null ? null : modelEncoder.encoder();
            DataReport report = DataReport.build(file, validation, encoder, length);
            if (encoder != null) {
                report = report.withEstimate(estimate(estimateSettings, encoder));
            }
            AtomicFiles.writeString(html, ReportHtml.render(report));
            PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            if (json) {
                Map<String, Object> object = report.toJson();
                object.put("html", html.toString());
                stdout.print(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(object) + "\n");
            } else {
                stdout.print(report.summary(html.toString()));
            }
            stdout.flush();
            return report.usable() ? 0 : 1;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The cost estimate's table, or why there is none: a file with errors or data that cannot be counted offline still gets its report. */
    private Map<String, Object> estimate(TrainingConfig settings, ChatEncoder encoder) {
        try {
            return estimateOptions.estimate(settings, encoder, !json).cost().toJson();
        } catch (TailorException e) {
            Map<String, Object> reason = new LinkedHashMap<>();
            reason.put("not_estimated", e.getMessage());
            return reason;
        }
    }

    /** train.jsonl, train.jsonl.gz and train.json all give train.report.html in the same directory. */
    static Path defaultOut(Path file) {
        String name = file.getFileName().toString().replaceFirst("(\\.gz)?$", "").replaceFirst("\\.(jsonl|json)$", "");
        return file.resolveSibling(name + ".report.html");
    }

    private void checkUsage(Path html) {
        for (Path input : validation == null ? new Path[] {file} : new Path[] {file, validation}) {
            if (!Files.isRegularFile(input)) {
                throw new TailorException(input + ": file not found; check the path");
            }
        }
        ModelEncoder.checkOptions(model, maxSeqLen);
        if (Files.isDirectory(html)) {
            throw new TailorException("--out " + html + " is a directory; give a file name such as report.html");
        }
        if (isSameFile(html, file) || (validation != null && isSameFile(html, validation))) {
            throw new TailorException("--out " + html + " is an input file; inputs are never overwritten: choose another --out");
        }
        if (Files.exists(html) && !force) {
            throw new TailorException(html + " exists; pass --force to replace it or choose another --out");
        }
    }

    private static boolean isSameFile(Path a, Path b) {
        try {
            return Files.exists(a) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false; // unreadable: not provably the input, and the write will report its own error
        }
    }

}
