package dev.tailor.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.DataFormat;
import dev.tailor.data.DataValidator;
import dev.tailor.data.ValidationReport;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data validate}: every error of a data file with its line and code, the guide's
 * warnings and statistics. Exit 0 when usable (warnings allowed), 1 with errors, 2 on usage errors
 * (bad flags, a missing file, a model directory that cannot be read).
 */
@Command(name = "validate", mixinStandardHelpOptions = true,
        description = "Check a training file (chat, completion, text, preference, rft, vision): all errors with line and code,"
                + " warnings, statistics. Exit 0 usable, 1 errors, 2 usage error.")
final class DataValidateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "JSONL (.jsonl, .jsonl.gz) or JSON array file; never modified")
    Path file;

    @Option(names = "--format", paramLabel = "F", description = "chat, completion, text, preference, rft or vision (default: detected)")
    String format;

    @Option(names = "--model", paramLabel = "DIR", description = "model directory: count tokens with its tokenizer and chat template")
    Path model;

    @Option(names = "--max-seq-len", paramLabel = "N", description = "report examples over N tokens (needs --model; default 512, as training)")
    Integer maxSeqLen;

    @Option(names = "--json", description = "print one JSON object {format, examples, errors, warnings, stats}")
    boolean json;

    @Override
    public Integer call() {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        DataFormat forced;
        try {
            forced = format == null ? null : DataFormat.parse(format);
            checkUsage();
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
            ValidationReport report = new DataValidator(forced, encoder, ModelEncoder.maxSeqLenOrTrainingDefault(maxSeqLen)).validate(file);
            out.print(json ? Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report.toJson()) + "\n"
                    : report.summary(file.toString()));
            out.flush();
            return report.usable() ? 0 : 1;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private void checkUsage() {
        if (!Files.isRegularFile(file)) {
            throw new TailorException(file + ": file not found; check the path");
        }
        ModelEncoder.checkOptions(model, maxSeqLen);
    }

}
