package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.data.ChatTemplate;
import dev.tailor.data.DataConversion;
import dev.tailor.data.TransformOutput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tailor data convert}: a data file rewritten in another format (see {@link DataConversion}).
 * Exit 0 when written, 1 when the file has errors or cannot be converted, 2 on usage errors.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a data file: completion -> chat, chat -> completion, preference (any form) -> preference-openai"
                + " or preference-trl (a new file; the input is untouched). Exit 0 written, 1 data problem, 2 usage error.")
final class DataConvertCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "JSONL (.jsonl, .jsonl.gz) or JSON array file without errors")
    Path file;

    @Option(names = "--to", required = true, paramLabel = "FORMAT", description = "chat, completion, preference-openai or preference-trl")
    String to;

    @Option(names = "--output", paramLabel = "PATH", description = "output (default: NAME.FORMAT.jsonl beside FILE; .gz compresses)")
    Path output;

    @Option(names = "--system", paramLabel = "TEXT", description = "--to chat: start every conversation with this system message")
    String system;

    @Option(names = "--model", paramLabel = "DIR",
            description = "--to completion: render each conversation before its final answer with this model's chat template")
    Path model;

    @Option(names = "--force", description = "replace an existing output file")
    boolean force;

    @Override
    public Integer call() {
        DataConversion.Target target;
        Path out;
        ChatTemplate template;
        try {
            target = DataConversion.Target.parse(to);
            out = output != null ? output : TransformOutput.beside(file, target.id());
            checkUsage(target, out);
            template = model == null ? null : ChatTemplate.fromModelDir(model);
        } catch (TailorException e) {
            return UsageError.report(e.getMessage());
        }
        DataConversion.Result r = DataConversion.convert(file, out, target, system, template);
        System.out.println("converted " + r.examples() + " " + r.from().id() + (r.examples() == 1 ? " example" : " examples")
                + " to " + target.id() + " -> " + out);
        return 0;
    }

    private void checkUsage(DataConversion.Target target, Path out) {
        if (!Files.isRegularFile(file)) {
            throw new TailorException(file + ": file not found; check the path");
        }
        DataConversion.checkOptions(target, system != null, model != null);
        if (system != null && system.isBlank()) {
            throw new TailorException("--system is empty; give the system prompt's text");
        }
        if (model != null && !Files.isDirectory(model)) {
            throw new TailorException("--model " + model + ": not a directory");
        }
        TransformOutput.check(file, out, "--output", force);
    }
}
