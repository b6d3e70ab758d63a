package dev.tailor.data;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An SFT training file: JSONL (UTF-8, optional BOM, blank lines skipped, gzipped when the name
 * ends in .gz; a JSON array file too) of chat ({"messages": [...], "tools"?}), prompt/completion or
 * {"text"} examples. The format is detected from the first example and every line must match it.
 * The checks are {@link RecordChecker}'s, the same that {@code tailor data validate} runs; here the
 * first problem is a TailorException "FILE:LINE: problem; fix".
 */
public final class Dataset {
    private final Path file;
    private final Example.Kind kind;
    private final List<Example> examples;

    private Dataset(Path file, Example.Kind kind, List<Example> examples) {
        this.file = file;
        this.kind = kind;
        this.examples = examples;
    }

    /**
     * Reads a JSONL file (UTF-8, optional BOM, blank lines skipped, .jsonl.gz too) of chat, prompt/
     * completion or text examples; the format of the first example is the file's. Errors are
     * TailorException "FILE:LINE: problem; fix" (invalid JSON, not an object, missing or empty
     * messages, a message without role or content, an unknown role or key, empty content, a weight
     * other than 0 or 1, no assistant message, an empty completion, mixed formats) or "FILE: ..."
     * for an empty file.
     */
    public static Dataset load(Path file) {
        List<Example> examples = new ArrayList<>();
        RecordChecker.Sink firstErrorStops = (line, code, message) -> {
            throw new TailorException(file + ":" + line + ": " + message);
        };
        RecordChecker checker = new RecordChecker(firstErrorStops, true, true, null, file);
        JsonlSource.read(file, new JsonlSource.Visitor() {
            @Override
            public void record(int line, com.fasterxml.jackson.databind.JsonNode node) {
                examples.add(checker.check(line, node).examples().get(0));
            }

            @Override
            public void problem(int line, String code, String message) {
                firstErrorStops.error(line, code, message);
            }
        });
        if (examples.isEmpty()) {
            throw new TailorException(file + ": the file has no examples; " + RecordChecker.SFT_FORMATS);
        }
        return new Dataset(file, examples.get(0).kind(), List.copyOf(examples));
    }

    public Path file() {
        return file;
    }

    public Example.Kind kind() {
        return kind;
    }

    public List<Example> examples() {
        return examples;
    }

    public int size() {
        return examples.size();
    }
}
