package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Native memory has owners in the engine too: the KV-cache slots, the adapters (loaded, evicted and
 * reloaded here on every round) and each step's temporaries. Hundreds of requests must leave the
 * resident set flat (the test JVM's heap is fixed and pre-touched, so growth is native memory).
 */
class EngineNativeMemoryTest {
    @TempDir
    static Path tmp;

    @Test
    void rssStaysFlatOverHundredsOfRequests() throws IOException {
        try (ServeFixtures fixtures = new ServeFixtures(tmp);
             BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxLoadedAdapters(1))) {
            String[] adapters = {null, ServeFixtures.QV, ServeFixtures.ALL};
            Runnable round = () -> {
                List<GenerationHandle> handles = new ArrayList<>();
                for (int i = 0; i < adapters.length; i++) {
                    handles.add(engine.submit(BatchingEngineLifecycleTest.request(ServeFixtures.prompt(i, 3 + 4 * i), adapters[i], 4, null)));
                }
                handles.forEach(h -> assertEquals(4, h.result().join().completionTokens()));
                engine.score(ServeFixtures.prompt(9, 12), ServeFixtures.ALL, 5).join();
            };
            for (int i = 0; i < 60; i++) {
                round.run(); // warm-up: allocator pools and JIT settle
            }
            long before = rssKiB();
            for (int i = 0; i < 300; i++) {
                round.run();
            }
            long growthMiB = (rssKiB() - before) / 1024;
            assertTrue(growthMiB < 32, "RSS grew by " + growthMiB + " MiB over 900 requests");
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
