package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.zip.GZIPOutputStream;

/**
 * The files that split, dedupe and convert write: their default names beside the input, the guard
 * against replacing the input or an existing file, and the writing itself: compact JSON, one record
 * per line, UTF-8, "\n", gzipped when the name ends in .gz, atomically (a failure leaves no file).
 */
public final class TransformOutput {
    private TransformOutput() {}

    /**
     * NAME.TAG.jsonl in the input's directory, where NAME is the input's file name without a .gz
     * and then without one extension: data.jsonl.gz with tag "train" gives data.train.jsonl.
     */
    public static Path beside(Path input, String tag) {
        String name = input.getFileName().toString();
        if (name.endsWith(".gz")) {
            name = name.substring(0, name.length() - 3);
        }
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        return input.resolveSibling(stem + "." + tag + ".jsonl");
    }

    /**
     * Refuses an output that is the input (inputs are never modified, even with --force) or that
     * already exists without force.
     *
     * @throws TailorException naming the output and the fix
     */
    public static void check(Path input, Path output, String option, boolean force) {
        if (sameFile(input, output)) {
            throw new TailorException(option + " " + output + " is the input file, which is never modified; choose another name");
        }
        if (Files.exists(output) && !force) {
            throw new TailorException(option + " " + output + " already exists; choose another name or pass --force to replace it");
        }
    }

    /** Whether two paths name one file (also through links, when both exist). */
    public static boolean sameFile(Path a, Path b) {
        if (a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize())) {
            return true;
        }
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** Writes the records the body hands to its {@link Lines} into target, atomically. */
    static void write(Path target, Consumer<Lines> body) {
        AtomicFiles.write(target, out -> {
            GZIPOutputStream gzip = target.getFileName().toString().endsWith(".gz") ? new GZIPOutputStream(out, 1 << 16) : null;
            OutputStream buffered = new BufferedOutputStream(gzip == null ? out : gzip, 1 << 16);
            body.accept(new Lines(buffered));
            buffered.flush();
            if (gzip != null) {
                gzip.finish();
            }
        });
    }

    /** The records of one output file, written as they come; counts them. */
    static final class Lines {
        private final OutputStream out;
        private int count;

        private Lines(OutputStream out) {
            this.out = out;
        }

        /** Appends the record as one line of compact JSON (key order kept). */
        void add(JsonNode record) {
            try {
                out.write(Json.MAPPER.writeValueAsBytes(record));
                out.write('\n');
                count++;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        int count() {
            return count;
        }
    }
}
