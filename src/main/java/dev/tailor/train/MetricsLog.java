package dev.tailor.train;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * metrics.jsonl: one JSON object per logging or evaluation event. The whole file is rewritten
 * atomically on each event (it holds a few hundred short lines), so a killed run never leaves a
 * torn last line; a resumed run first drops the events after its checkpoint's step.
 */
final class MetricsLog {
    private final Path file;
    private final List<Map<String, Object>> events = new ArrayList<>();

    private MetricsLog(Path file) {
        this.file = file;
    }

    static MetricsLog create(Path file) {
        MetricsLog log = new MetricsLog(file);
        log.flush();
        return log;
    }

    /** The events of an earlier run up to and including {@code step}, for resuming; later ones are dropped from the file. */
    static MetricsLog resume(Path file, long step) {
        MetricsLog log = read(file, step);
        log.flush();
        return log;
    }

    /** What the file holds, without writing it. */
    static MetricsLog read(Path file) {
        return read(file, Long.MAX_VALUE);
    }

    private static MetricsLog read(Path file, long step) {
        MetricsLog log = new MetricsLog(file);
        if (Files.exists(file)) {
            try {
                for (String line : Files.readAllLines(file)) {
                    if (!line.isBlank()) {
                        JsonNode event = Json.MAPPER.readTree(line);
                        if (event.path("step").asLong() <= step) {
                            log.events.add(Json.MAPPER.convertValue(event, Map.class));
                        }
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        return log;
    }

    void add(Map<String, Object> event) {
        events.add(new LinkedHashMap<>(event));
        flush();
    }

    List<Map<String, Object>> events() {
        return events;
    }

    /** (step, value) pairs of one metric, for the loss chart. */
    List<double[]> series(String metric) {
        List<double[]> points = new ArrayList<>();
        for (Map<String, Object> e : events) {
            if (e.get(metric) instanceof Number value) {
                points.add(new double[] {((Number) e.get("step")).doubleValue(), value.doubleValue()});
            }
        }
        return points;
    }

    private void flush() {
        StringBuilder text = new StringBuilder();
        events.forEach(e -> text.append(Json.compact(e)).append('\n'));
        AtomicFiles.writeString(file, text.toString());
    }
}
