package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Native memory has one owner: thousands of forward passes must leave the resident set flat.
 * The test JVM's heap is fixed and pre-touched (pom.xml), so RSS growth here is native memory.
 */
class NativeMemoryTest {
    private static final Path MODEL = Path.of("src/test/resources/reference-models/qwen2-bias-tied-f32/model");

    @Test
    void rssStaysFlatOverThousandsOfForwardPasses() throws IOException {
        Engine.ensureConfigured();
        try (Model model = Model.load(MODEL, Device.CPU, null)) {
            int[] ids = {1, 5, 9, 22, 17, 3, 100, 64, 12, 7, 90, 31};
            Generator generator = new Generator(model, null);
            Runnable work = () -> {
                model.logprobs(ids);
                generator.generate(List.of(ids, new int[] {4, 8}), SamplingParams.greedy(4, Set.of()), null);
            };
            for (int i = 0; i < 300; i++) {
                work.run(); // warm-up: allocator pools and JIT settle
            }
            long before = rssKiB();
            for (int i = 0; i < 3000; i++) {
                work.run();
            }
            long growthMiB = (rssKiB() - before) / 1024;
            assertTrue(growthMiB < 32, "RSS grew by " + growthMiB + " MiB over 3000 iterations");
        }
    }

    private static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
