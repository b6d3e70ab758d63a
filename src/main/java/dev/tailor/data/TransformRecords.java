package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * The records of a file that split, dedupe and convert read: each one with its JSON and what
 * {@link RecordChecker} learned from it. A transform copies records into new files, so a file with
 * any error is refused at its first bad line (every error is {@code tailor data validate}'s job);
 * reading streams, so a transform that needs two passes reads the file twice rather than holding it.
 */
final class TransformRecords {
    /** One valid record: its 0-based position among the file's records, its JSON, and the checks' findings. */
    record Entry(int index, JsonNode node, CheckedRecord checked) {}

    private TransformRecords() {}

    /**
     * Calls action for every record of the file, in order.
     *
     * @param buildExamples whether records carry their training {@link Example}s (chat rendering needs them)
     * @return the file's format
     * @throws TailorException "FILE:LINE: problem; fix (...)" at the first error, or when the file has no records
     */
    static DataFormat read(Path file, boolean buildExamples, Consumer<Entry> action) {
        RecordChecker.Sink firstErrorStops = (line, code, message) -> {
            throw new TailorException(file + ":" + line + ": " + message + " (fix the file first: tailor data validate "
                    + file + " lists every error)");
        };
        RecordChecker checker = new RecordChecker(firstErrorStops, false, buildExamples, null, file);
        int[] count = {0};
        JsonlSource.read(file, new JsonlSource.Visitor() {
            @Override
            public void record(int line, JsonNode node) {
                action.accept(new Entry(count[0]++, node, checker.check(line, node)));
            }

            @Override
            public void problem(int line, String code, String message) {
                firstErrorStops.error(line, code, message);
            }
        });
        if (count[0] == 0) {
            throw new TailorException(file + ": the file has no examples; write one JSON object per line");
        }
        return checker.fileFormat();
    }
}
