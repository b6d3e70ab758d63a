package dev.tailor.serve;

import static dev.tailor.serve.ServeFixtures.ALL;
import static dev.tailor.serve.ServeFixtures.QV;
import static dev.tailor.serve.ServeFixtures.prompt;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.SamplingParams;
import dev.tailor.serve.ServeFixtures.Collector;
import dev.tailor.tensor.SafetensorsWriter;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine under load and change: over capacity, cancellation, shutdown, bad requests, adapters
 * registered, refused, evicted and unregistered while requests run. Where a request must be running
 * at a given moment, its listener holds the scheduler thread at its first token until the test lets
 * it go (listeners must never block in production; here it orders events without any timing).
 */
class BatchingEngineLifecycleTest {
    @TempDir
    static Path tmp;
    static ServeFixtures fixtures;

    @BeforeAll
    static void setUp() {
        fixtures = new ServeFixtures(tmp);
    }

    @AfterAll
    static void tearDown() {
        fixtures.close();
    }

    static SamplingParams greedy(int maxTokens) {
        return SamplingParams.greedy(maxTokens, Set.of());
    }

    static GenerationRequest request(int[] prompt, String adapter, int maxTokens, GenerationListener listener) {
        return new GenerationRequest(prompt, adapter, greedy(maxTokens), 0, listener);
    }

    static void assertAsAlone(int[] prompt, String adapter, int maxTokens, GenerationResult got) {
        assertEquals(FinishReason.LENGTH, got.finishReason());
        assertArrayEquals(fixtures.alone(prompt, adapter, greedy(maxTokens)).tokenIds(), got.tokenIds(), "adapter " + adapter);
    }

    @Test
    void overCapacityIsRefusedAtOnceAndCancellingFreesTheSlot() {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxRunning(1).withMaxWaiting(1))) {
            CountDownLatch gate = new CountDownLatch(1);
            Collector a = new Collector(gate);
            GenerationHandle running = engine.submit(request(prompt(1, 5), null, 40, a));
            ServeFixtures.await(a.atFirstToken);
            Collector b = new Collector();
            int[] promptB = prompt(2, 6);
            engine.submit(request(promptB, QV, 10, b)); // waits for the only slot
            EngineOverloadedException full = assertThrows(EngineOverloadedException.class,
                    () -> engine.submit(request(prompt(3, 4), null, 4, new Collector())));
            assertTrue(full.getMessage().contains("2 requests in flight"), full.getMessage());
            assertTrue(full.retryAfterSeconds() >= 1);
            assertEquals(2, engine.stats().running() + engine.stats().queued());

            running.cancel(); // the client went away while its first token was being delivered
            gate.countDown();
            GenerationResult cancelled = a.result();
            assertEquals(FinishReason.CANCELLED, cancelled.finishReason());
            assertEquals(1, cancelled.completionTokens(), "stopped at the next step");
            assertAsAlone(promptB, QV, 10, b.result());

            Collector c = new Collector();
            engine.submit(request(prompt(3, 4), null, 4, c)); // there is room again
            assertEquals(4, c.result().completionTokens());
            running.cancel(); // no effect once finished
            assertEquals(FinishReason.CANCELLED, running.result().join().finishReason());
        }
    }

    @Test
    void aListenerThatThrowsCancelsOnlyItsOwnRequest() {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            Collector broken = new Collector() {
                @Override
                public void onToken(GeneratedToken token) {
                    super.onToken(token);
                    if (token.index() == 2) {
                        throw new IllegalStateException("client gone");
                    }
                }
            };
            Collector fine = new Collector();
            int[] p = prompt(4, 5);
            engine.submit(request(p, ALL, 20, broken));
            engine.submit(request(p, ALL, 20, fine));
            GenerationResult r = broken.result();
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertEquals(3, r.completionTokens());
            assertAsAlone(p, ALL, 20, fine.result());
        }
    }

    @Test
    void shutdownWithoutGraceCancelsRunningAndWaitingRequests() {
        BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxRunning(1));
        CountDownLatch gate = new CountDownLatch(1);
        Collector a = new Collector(gate);
        engine.submit(request(prompt(5, 5), null, 40, a));
        ServeFixtures.await(a.atFirstToken);
        Collector b = new Collector();
        engine.submit(request(prompt(6, 5), QV, 40, b));
        CompletableFuture<Void> stopped = engine.shutdown(Duration.ZERO);
        assertThrows(EngineClosedException.class, () -> engine.submit(request(prompt(7, 3), null, 3, new Collector())));
        gate.countDown();
        stopped.join();
        assertEquals(FinishReason.CANCELLED, a.result().finishReason());
        assertTrue(a.result().completionTokens() < 40, "cut short: " + a.result().completionTokens());
        assertEquals(FinishReason.CANCELLED, b.result().finishReason());
        assertEquals(0, b.result().completionTokens());
        assertThrows(EngineClosedException.class, () -> engine.register("late", fixtures.qv));
        assertThrows(EngineClosedException.class, () -> engine.score(new int[] {1, 2}, null, 0));
        engine.close(); // after a shutdown: only the tokenizer is left to close
    }

    @Test
    void shutdownWithGraceFinishesAcceptedRequests() {
        BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxRunning(1));
        Collector a = new Collector();
        Collector b = new Collector();
        engine.submit(request(prompt(8, 5), ALL, 12, a));
        engine.submit(request(prompt(9, 7), null, 8, b));
        engine.shutdown(Duration.ofMinutes(10)).join();
        assertAsAlone(prompt(8, 5), ALL, 12, a.result());
        assertAsAlone(prompt(9, 7), null, 8, b.result());
        assertEquals(new EngineStats(0, 0, 0, 2, engine.stats().decodeSteps(), engine.stats().decodedTokens()), engine.stats(),
                "nothing in flight and every adapter freed");
        engine.close();
    }

    @Test
    void badAdaptersAreRefusedWithTheReasonWhileOtherRequestsKeepRunning() throws IOException {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            Collector running = new Collector();
            int[] p = prompt(10, 6);
            engine.submit(request(p, ALL, 60, running));
            ServeFixtures.await(running.atFirstToken);

            String q = "model.layers.0.self_attn.q_proj";
            Map<String, String> refusals = new LinkedHashMap<>();
            refusals.put("has shape [4, 32], expected [4, 64]", writeAdapter("narrow", 4, q, new long[] {4, 32}, new long[] {64, 4}, 0));
            refusals.put("is above 512", writeAdapter("huge", 600, q, new long[] {600, 64}, new long[] {64, 600}, 0));
            refusals.put("not a linear layer of this model", writeAdapter("alien", 4, "model.layers.0.mlp.fc1",
                    new long[] {4, 64}, new long[] {64, 4}, 0));
            refusals.put("NaN or infinite weights", writeAdapter("diverged", 4, q, new long[] {4, 64}, new long[] {64, 4}, Float.NaN));
            refusals.put("no adapter_config.json", Files.createDirectories(tmp.resolve("empty")).toString());
            for (Map.Entry<String, String> r : refusals.entrySet()) {
                String name = Path.of(r.getValue()).getFileName().toString();
                TailorException e = assertThrows(TailorException.class, () -> engine.register(name, Path.of(r.getValue())));
                assertTrue(e.getMessage().startsWith("adapter '" + name + "' is refused") && e.getMessage().contains(r.getKey()),
                        e.getMessage());
            }
            TailorException taken = assertThrows(TailorException.class, () -> engine.register(QV, fixtures.all));
            assertTrue(taken.getMessage().contains("already registered"), taken.getMessage());
            assertEquals(Set.of(QV, ALL), engine.adapters().keySet());
            assertAsAlone(p, ALL, 60, running.result());
        }
    }

    /** A PEFT adapter directory with one LoRA pair of the given shapes on {@code module}, every weight {@code value}. */
    private static String writeAdapter(String name, int r, String module, long[] a, long[] b, float value) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.writeString(dir.resolve("adapter_config.json"),
                AdapterConfig.forTraining(r, r, 0, List.of(module.substring(module.lastIndexOf('.') + 1)), false, "tiny").toJson());
        try (PointerScope scope = new PointerScope()) {
            String prefix = "base_model.model." + module;
            SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), Map.of(
                    prefix + ".lora_A.weight", Tensors.fromFloats(filled(a, value), a),
                    prefix + ".lora_B.weight", Tensors.fromFloats(filled(b, value), b)), Map.of());
        }
        return dir.toString();
    }

    private static float[] filled(long[] shape, float value) {
        float[] v = new float[(int) (shape[0] * shape[1])];
        Arrays.fill(v, value);
        return v;
    }

    @Test
    void badRequestsFailInTheCallersThreadBeforeAnyNativeCall() {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxSequenceLength(64))) {
            UnknownAdapterException unknown = assertThrows(UnknownAdapterException.class,
                    () -> engine.submit(request(prompt(1, 3), "nope", 4, null)));
            assertTrue(unknown.getMessage().contains("'nope'") && unknown.getMessage().contains("all, qv"), unknown.getMessage());
            TailorException tooLong = assertThrows(TailorException.class, () -> engine.submit(request(prompt(1, 60), null, 5, null)));
            assertTrue(tooLong.getMessage().contains("65") && tooLong.getMessage().contains("64"), tooLong.getMessage());
            TailorException outside = assertThrows(TailorException.class, () -> engine.submit(request(new int[] {3, 512}, null, 4, null)));
            assertTrue(outside.getMessage().contains("512") && outside.getMessage().contains("position 1"), outside.getMessage());
            assertThrows(TailorException.class, () -> engine.submit(request(new int[0], null, 4, null)));
            assertThrows(TailorException.class, () -> engine.submit(new GenerationRequest(prompt(1, 3), null, greedy(4), 21, null)));
            assertThrows(TailorException.class, () -> engine.score(new int[] {-1, 4}, null, 0));
            assertThrows(UnknownAdapterException.class, () -> engine.unregister("nope"));
            assertEquals(new EngineStats(0, 0, 2, 2, 0, 0), engine.stats(), "nothing reached the scheduler");
            GenerationHandle ok = engine.submit(request(prompt(1, 59), null, 5, null));
            assertEquals(5, ok.result().join().completionTokens(), "59 + 5 fit");
        }
    }

    @Test
    void leastRecentlyUsedAdaptersAreUnloadedAndReloadedTransparently() {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults().withMaxLoadedAdapters(1))) {
            // registering loads each once; the second evicts the first
            assertEquals(2, engine.stats().adapterLoads());
            int[] p = prompt(11, 6);
            Collector qv = new Collector();
            Collector all = new Collector();
            engine.submit(request(p, QV, 10, qv));  // evicts 'all' and loads 'qv'
            engine.submit(request(p, ALL, 10, all)); // waits until 'qv' is idle, then evicts it
            assertAsAlone(p, QV, 10, qv.result());
            assertAsAlone(p, ALL, 10, all.result());
            Collector again = new Collector();
            engine.submit(request(p, QV, 10, again));
            assertAsAlone(p, QV, 10, again.result());
            assertEquals(5, engine.stats().adapterLoads());
            assertEquals(1, engine.stats().loadedAdapters());
        }
    }

    @Test
    void anAdapterUnregisteredWhileInUseFinishesItsRequestsThenIsFreed() throws InterruptedException {
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            CountDownLatch gate = new CountDownLatch(1);
            Collector a = new Collector(gate);
            int[] p = prompt(12, 5);
            engine.submit(request(p, QV, 20, a));
            ServeFixtures.await(a.atFirstToken);
            Thread unregister = new Thread(() -> engine.unregister(QV));
            unregister.start();
            // its task is queued once it waits for the scheduler (which the gate holds)
            while (unregister.getState() != Thread.State.WAITING && unregister.isAlive()) {
                Thread.sleep(1);
            }
            gate.countDown();
            unregister.join();
            assertFalse(engine.adapters().containsKey(QV));
            assertThrows(UnknownAdapterException.class, () -> engine.submit(request(p, QV, 4, null)));
            assertAsAlone(p, QV, 20, a.result());
            assertEquals(1, engine.stats().loadedAdapters(), "freed after its last request");

            engine.register(QV, fixtures.qv);
            Collector b = new Collector();
            engine.submit(request(p, QV, 6, b));
            assertAsAlone(p, QV, 6, b.result());
        }
    }
}
