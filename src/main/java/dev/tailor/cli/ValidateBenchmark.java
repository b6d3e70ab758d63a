package dev.tailor.cli;

import dev.tailor.Directories;
import dev.tailor.data.DataValidator;
import dev.tailor.data.ValidationReport;
import java.io.BufferedWriter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "validate", mixinStandardHelpOptions = true,
        description = "Throughput (MB/s) and peak heap of `tailor data validate` without --model on a generated chat file.")
final class ValidateBenchmark implements Callable<Integer> {
    @Option(names = "--examples", defaultValue = "200000", description = "chat examples in the generated file (default: ${DEFAULT-VALUE})")
    int examples;

    @Option(names = "--runs", defaultValue = "3", description = "timed validations after one warm-up (default: ${DEFAULT-VALUE})")
    int runs;

    @Override
    public Integer call() throws IOException {
        Path dir = Files.createTempDirectory("tailor-bench-validate-");
        try {
            Path file = dir.resolve("chat.jsonl");
            writeChatFile(file);
            double megabytes = Files.size(file) / 1e6;
            System.out.printf(Locale.ROOT, "file: %d chat examples (system, user, assistant; 30-500 tokens), %.0f MB; %d cores, max heap %d MiB%n",
                    examples, megabytes, Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
            DataValidator validator = new DataValidator(null, null, 512);
            validator.validate(file); // warm-up: JIT compilation and the page cache
            resetPeakHeap();
            double best = Double.MAX_VALUE;
            ValidationReport report = null;
            for (int i = 0; i < runs; i++) {
                report = null; // one report alive at a time: the peak heap is one validation's
                long start = System.nanoTime();
                report = validator.validate(file);
                best = Math.min(best, (System.nanoTime() - start) / 1e9);
            }
            System.out.printf(Locale.ROOT, "validate (no --model): %.2f s best of %d = %.0f MB/s, %.0f examples/s; %d errors, %d warnings;"
                            + " peak heap %.0f MiB%n", best, runs, megabytes / best, examples / best, report.errors().size(),
                    report.warnings().size(), peakHeapMiB());
        } finally {
            Directories.deleteRecursively(dir);
        }
        return 0;
    }

    /** Written line by line: the file is larger than the benchmark needs to hold in memory. */
    private void writeChatFile(Path file) throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        String system = "You are the support assistant of an online shop. Answer briefly and politely.";
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (int i = 0; i < examples; i++) {
                out.write(BenchText.chatLine(random, system));
                out.write('\n');
            }
        }
    }

    private static void resetPeakHeap() {
        System.gc();
        ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
    }

    private static double peakHeapMiB() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .mapToLong(p -> p.getPeakUsage().getUsed()).sum() / 1048576.0;
    }
}
