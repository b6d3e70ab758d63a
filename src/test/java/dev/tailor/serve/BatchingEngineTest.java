package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.model.Completion;
import dev.tailor.model.SamplingParams;
import dev.tailor.model.TokenLogprob;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the engine returns for concurrent requests to different adapters, joining the batch at
 * different steps, against each request computed alone: the same tokens as {@link
 * dev.tailor.model.Generator} with that adapter attached, and log-probabilities equal to a cache-free
 * recomputation of prompt + output with that adapter.
 */
class BatchingEngineTest {
    /**
     * fp32 throughout: the engine's numbers differ from the references only in summation order (a
     * batch of other rows in the products, a KV cache and masked slots in attention), measured
     * at most 5e-7 here. 1e-4 is far above that and far below what a wrong adapter, position or cache
     * row changes (the adapters here move log-probabilities by more than 0.1: asserted).
     */
    static final double TOLERANCE = 1e-4;

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

    record Case(String name, int[] prompt, String adapter, SamplingParams params, int top) {}

    @Test
    void concurrentRequestsToDifferentAdaptersReturnWhatEachGivesAlone() {
        SamplingParams greedy = SamplingParams.greedy(12, Set.of());
        List<Case> cases = List.of(
                new Case("base greedy", ServeFixtures.prompt(1, 5), null, greedy, 3),
                new Case("qv greedy, prefilled in 2 chunks", ServeFixtures.prompt(2, 11), ServeFixtures.QV, greedy.withMaxTokens(16), 0),
                new Case("all greedy, prefilled in 3 chunks", ServeFixtures.prompt(3, 20), ServeFixtures.ALL, greedy.withMaxTokens(9), 5),
                new Case("all seeded", ServeFixtures.prompt(4, 7), ServeFixtures.ALL,
                        greedy.withMaxTokens(14).withTemperature(1.0).withSeed(7L), 2),
                new Case("qv seeded top-p", ServeFixtures.prompt(5, 3), ServeFixtures.QV,
                        greedy.withMaxTokens(8).withTemperature(0.8).withTopP(0.9).withSeed(3L), 0),
                new Case("base on the same prompt as qv", ServeFixtures.prompt(2, 11), null, greedy.withMaxTokens(16), 1));
        // 4 rows at most: the last two requests wait for a slot and join when the first ones leave
        EngineOptions options = EngineOptions.defaults().withMaxRunning(4).withPrefillTokensPerStep(8);
        List<ServeFixtures.Collector> collectors = new ArrayList<>();
        List<GenerationResult> results = new ArrayList<>();
        EngineStats stats;
        try (BatchingEngine engine = fixtures.start(options)) {
            // the first request holds the scheduler at its first token until all others are queued, so
            // they join its batch one after another (prefill is limited to 8 prompt tokens per step)
            CountDownLatch gate = new CountDownLatch(1);
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                ServeFixtures.Collector collector = i == 0 ? new ServeFixtures.Collector(gate) : new ServeFixtures.Collector();
                collectors.add(collector);
                engine.submit(new GenerationRequest(c.prompt(), c.adapter(), c.params(), c.top(), collector));
                if (i == 0) {
                    ServeFixtures.await(collector.atFirstToken);
                }
            }
            gate.countDown();
            for (ServeFixtures.Collector c : collectors) {
                results.add(c.result());
            }
            stats = engine.stats();
        }
        assertTrue(stats.decodedTokens() > stats.decodeSteps() * 2,
                "requests should have decoded together: " + stats.decodedTokens() + " tokens in " + stats.decodeSteps() + " steps");

        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            GenerationResult got = results.get(i);
            Completion alone = fixtures.alone(c.prompt(), c.adapter(), c.params());
            assertArrayEquals(alone.tokenIds(), got.tokenIds(), c.name() + ": tokens differ from the request alone");
            assertEquals(alone.text(), got.text(), c.name());
            assertEquals(got.text(), collectors.get(i).streamedText(), c.name() + ": the streamed deltas make the text");
            assertEquals(FinishReason.LENGTH, got.finishReason(), c.name());
            assertEquals(c.params().maxTokens(), got.completionTokens(), c.name());
            assertEquals(c.prompt().length, got.promptTokens(), c.name());
            assertLogprobsMatch(c, got);
        }
        // the adapters matter: the same prompt gives other tokens with qv than with the base
        assertNotEquals(Arrays.toString(results.get(1).tokenIds()), Arrays.toString(results.get(5).tokenIds()));
    }

    /** Each token's log-probability and top alternatives against the cache-free recomputation with that adapter. */
    private static void assertLogprobsMatch(Case c, GenerationResult got) {
        List<TokenLogprob> want = fixtures.recomputed(c.prompt(), got.tokenIds(), c.adapter(), c.top());
        List<TokenLogprob> base = fixtures.recomputed(c.prompt(), got.tokenIds(), null, 0);
        double adapterEffect = 0;
        assertEquals(want.size(), got.logprobs().size(), c.name());
        for (int t = 0; t < want.size(); t++) {
            TokenLogprob w = want.get(t);
            TokenLogprob g = got.logprobs().get(t);
            String where = c.name() + ", token " + t;
            assertEquals(w.token(), g.token(), where);
            assertEquals(w.logprob(), g.logprob(), TOLERANCE, where);
            assertEquals(c.top(), g.topTokens().length, where);
            for (int k = 0; k < c.top(); k++) {
                assertEquals(w.topLogprobs()[k], g.topLogprobs()[k], TOLERANCE, where + ", alternative " + k);
                assertEquals(w.topTokens()[k], g.topTokens()[k], where + ", alternative " + k);
            }
            adapterEffect = Math.max(adapterEffect, Math.abs(w.logprob() - base.get(t).logprob()));
        }
        if (c.adapter() != null) {
            assertTrue(adapterEffect > 0.1, c.name() + ": the adapter must change log-probabilities for the comparison to mean anything ("
                    + adapterEffect + ")");
        }
    }

    @Test
    void stopTokensAndStopStringsEndRequestsAsTheyEndAlone() {
        int[] prompt = ServeFixtures.prompt(20, 6);
        SamplingParams free = SamplingParams.greedy(24, Set.of());
        int[] freeAll = fixtures.alone(prompt, ServeFixtures.ALL, free).tokenIds();
        int stopToken = freeAll[5];
        int firstStop = Arrays.stream(freeAll).boxed().toList().indexOf(stopToken);
        String text = fixtures.alone(prompt, null, free).text();
        assertTrue(text.length() > 12, "too little text to cut: '" + text + "'");
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        List<Case> cases = List.of(
                new Case("stop token", prompt, ServeFixtures.ALL, free.withStopTokenIds(Set.of(stopToken)), 0),
                new Case("stop string", prompt, null, free.withStop(List.of(stop)), 0),
                new Case("max tokens", prompt, ServeFixtures.QV, free.withMaxTokens(5), 0));
        List<ServeFixtures.Collector> collectors = new ArrayList<>();
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            for (Case c : cases) {
                ServeFixtures.Collector collector = new ServeFixtures.Collector();
                collectors.add(collector);
                engine.submit(new GenerationRequest(c.prompt(), c.adapter(), c.params(), c.top(), collector));
            }
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                GenerationResult got = collectors.get(i).result();
                Completion alone = fixtures.alone(c.prompt(), c.adapter(), c.params());
                assertArrayEquals(alone.tokenIds(), got.tokenIds(), c.name());
                assertEquals(alone.text(), got.text(), c.name());
                assertEquals(alone.finishReason(), got.finishReason().apiName(), c.name());
                assertEquals(got.text(), collectors.get(i).streamedText(), c.name() + ": nothing of a stop string is streamed");
            }
        }
        // spelled out for the stop token: it ends the answer at its first occurrence, without text of its own
        GenerationResult byToken = collectors.get(0).result();
        assertEquals(FinishReason.STOP, byToken.finishReason());
        assertArrayEquals(Arrays.copyOf(freeAll, firstStop + 1), byToken.tokenIds());
        List<GeneratedToken> streamed = collectors.get(0).tokens;
        assertEquals(stopToken, streamed.get(streamed.size() - 1).tokenId());
        assertEquals("", streamed.get(streamed.size() - 1).text());
        assertEquals(FinishReason.STOP, collectors.get(1).result().finishReason());
        assertEquals(FinishReason.LENGTH, collectors.get(2).result().finishReason());
    }

    @Test
    void promptScoresEqualTheRecomputedLogprobsWithThatAdapter() {
        int[] prompt = ServeFixtures.prompt(30, 14);
        try (BatchingEngine engine = fixtures.start(EngineOptions.defaults())) {
            for (String adapter : new String[] {null, ServeFixtures.QV, ServeFixtures.ALL}) {
                List<TokenLogprob> got = engine.score(prompt, adapter, 4).join();
                List<TokenLogprob> want = fixtures.recomputed(new int[] {prompt[0]}, Arrays.copyOfRange(prompt, 1, prompt.length), adapter, 4);
                assertEquals(prompt.length - 1, got.size());
                for (int i = 0; i < got.size(); i++) {
                    assertEquals(prompt[i + 1], got.get(i).token());
                    // the same forward pass as the reference: per-call adapter instead of an attached one
                    assertEquals(want.get(i).logprob(), got.get(i).logprob(), 1e-6, adapter + " token " + i);
                    assertArrayEquals(want.get(i).topTokens(), got.get(i).topTokens(), adapter + " token " + i);
                }
            }
            assertEquals(List.of(), engine.score(new int[] {7}, null, 0).join(), "one token has nothing to score");
        }
    }
}
