package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tailor.model.SamplingParams;
import dev.tailor.model.TokenLogprob;
import dev.tailor.tensor.Bf16Gemv;
import dev.tailor.tensor.DType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The production path: a bf16 base decoding on Tailor's bf16 kernel, fp32 adapters added to bf16
 * outputs, six requests for three adapters (and the base) in one batch.
 */
class BatchingEngineBf16Test {
    /**
     * bf16 keeps 8 significant bits: the cache-free recomputation runs other kernels (libtorch's GEMM,
     * fp32 SDPA) and differs by about 0.004 here; 0.02 still separates a wrong adapter (> 0.1).
     */
    static final double TOLERANCE = 0.02;

    @TempDir
    static Path tmp;

    @Test
    void aMixedAdapterBatchInBf16GivesEachRequestsTokensAlone() {
        // the kernel computes each row's products on their own, whatever the batch; libtorch's bf16
        // GEMM may round a row differently with the batch size, which can flip a near-tie
        assumeTrue(Bf16Gemv.available(), "needs the AVX-512 BF16 decode kernel");
        String[] adapters = {null, ServeFixtures.QV, ServeFixtures.ALL, ServeFixtures.ALL, null, ServeFixtures.QV};
        SamplingParams greedy = SamplingParams.greedy(16, Set.of());
        try (ServeFixtures fixtures = new ServeFixtures(tmp, DType.BF16);
             BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            // the first request holds the scheduler until the others are queued: then all decode together
            CountDownLatch gate = new CountDownLatch(1);
            ServeFixtures.Collector first = new ServeFixtures.Collector(gate);
            List<GenerationHandle> handles = new ArrayList<>();
            for (int i = 0; i < adapters.length; i++) {
                handles.add(engine.submit(new GenerationRequest(ServeFixtures.prompt(40 + i, 4 + 3 * i), adapters[i], greedy, 0,
                        i == 0 ? first : null)));
                if (i == 0) {
                    ServeFixtures.await(first.atFirstToken);
                }
            }
            gate.countDown();
            for (int i = 0; i < adapters.length; i++) {
                int[] prompt = ServeFixtures.prompt(40 + i, 4 + 3 * i);
                GenerationResult got = handles.get(i).result().join();
                assertArrayEquals(fixtures.alone(prompt, adapters[i], greedy).tokenIds(), got.tokenIds(), "request " + i);
                List<TokenLogprob> want = fixtures.recomputed(prompt, got.tokenIds(), adapters[i], 0);
                for (int t = 0; t < want.size(); t++) {
                    assertEquals(want.get(t).logprob(), got.logprobs().get(t).logprob(), TOLERANCE, "request " + i + " token " + t);
                }
            }
            EngineStats stats = engine.stats();
            assertTrue(stats.decodedTokens() >= 4 * stats.decodeSteps(), "decoded together: " + stats);
        }
    }
}
