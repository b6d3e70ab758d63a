package dev.tailor.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The process's peak resident memory, for benchmarks (Linux /proc; NaN elsewhere). */
final class ProcessMemory {
    private ProcessMemory() {}

    static double peakRssMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException ignored) {
            // not Linux: report unknown
        }
        return Double.NaN;
    }

    /** Starts a new peak from the current RSS, so one benchmark configuration is measured alone. */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // resets VmHWM (Linux >= 4.0)
        } catch (IOException | RuntimeException ignored) {
            // not Linux or not permitted: the peak then covers the whole process
        }
    }
}
