package dev.tailor.serve;

import static dev.tailor.serve.ServeFixture.Http.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Adapter;
import dev.tailor.model.Generator;
import dev.tailor.model.SamplingParams;
import dev.tailor.model.TokenLogprob;
import dev.tailor.model.Tokenizer;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Generation over HTTP, through the official OpenAI Java client where it can speak: chat and text
 * completions (JSON and streamed), logprobs in both shapes, echo scoring, experiments, tenants,
 * back-pressure, disconnects and the request log across a restart. Every generated text and
 * log-probability is compared with an independent computation: the fixture's model alone (the
 * adapter attached, no batching, no cache for the scores).
 */
class ServerGenerationTest {
    /** Batched fp32 decoding against one request recomputed without a cache (see BatchingEngineTest). */
    static final double TOLERANCE = BatchingEngineTest.TOLERANCE;
    static final String A = "support-v1";
    static final String B = "legal-v2";

    @TempDir
    static Path dir;
    static ServeFixture fixture;
    static Tokenizer tokenizer;
    static ChatEncoder chat;
    static ServeFixture.Running open;

    @BeforeAll
    static void start() throws Exception {
        fixture = new ServeFixture(dir);
        Path modelDir = dir.resolve(ServeFixture.BASE_ID);
        tokenizer = Tokenizer.fromModelDir(modelDir);
        chat = new ChatEncoder(ChatTemplate.fromModelDir(modelDir), tokenizer);
        open = fixture.start(ServeConfig.parse(served(), dir, "serve.yaml"), dir.resolve("open.db"));
    }

    static String served() {
        return "adapters:\n  " + A + ": " + fixture.adapterA + "\n  " + B + ": " + fixture.adapterB + "\n"
                + "experiments:\n  - {name: ab, variants: [{name: control, target: base, weight: 50},"
                + " {name: tuned, target: " + A + ", weight: 50, system_prompt: Answer briefly.}]}\n"
                + "  - {name: guide, variants: [{name: control, target: base, weight: 90}, {name: tuned, target: " + A
                + ", weight: 10}]}\n";
    }

    @AfterAll
    static void stop() {
        open.close();
        tokenizer.close();
        fixture.close();
    }

    static OpenAIClient client(ServeFixture.Running r) {
        return ServerModelsTest.client(r, "anything");
    }

    private static Map<String, Object> message(String role, String content) {
        return Map.of("role", role, "content", content);
    }

    /** Greedy generation of {@code prompt} by the model alone, with the adapter at {@code adapterDir} attached (null: base). */
    static dev.tailor.model.Completion alone(int[] prompt, Path adapterDir, int maxTokens) {
        SamplingParams params = SamplingParams.fromGenerationConfig(dir.resolve(ServeFixture.BASE_ID), fixture.model.config)
                .withTemperature(0).withMaxTokens(maxTokens);
        return withAdapter(adapterDir, () -> new Generator(fixture.model, tokenizer).generate(prompt, params, null));
    }

    /** Log-probabilities of ids[1..] recomputed in one forward pass (what `tailor logprobs --adapter` prints). */
    static List<TokenLogprob> scores(int[] ids, Path adapterDir, int top) {
        return withAdapter(adapterDir, () -> fixture.model.scores(ids, null, top));
    }

    private static <T> T withAdapter(Path adapterDir, Supplier<T> run) {
        synchronized (fixture) {
            if (adapterDir == null) {
                return run.get();
            }
            try (Adapter adapter = Adapter.load(adapterDir, fixture.model)) {
                fixture.model.attach(adapter);
                try {
                    return run.get();
                } finally {
                    fixture.model.detachAdapter();
                }
            }
        }
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void chatAnswersWhatTheModelAloneGeneratesWithOpenAisShape() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model(B).addSystemMessage("Be kind.")
                .addUserMessage("Tell me about the sea").maxCompletionTokens(6).temperature(0.0).logprobs(true).topLogprobs(3)
                .n(2).build();
        ChatCompletion reply = client(open).chat().completions().create(params);

        int[] prompt = chat.encodePrompt(List.of(message("system", "Be kind."), message("user", "Tell me about the sea")), null);
        dev.tailor.model.Completion want = alone(prompt, fixture.adapterB, 6);
        assertEquals(6, want.tokenIds().length, "a prompt whose answer does not stop at once: " + want.text());
        assertTrue(reply.id().startsWith("chatcmpl-"), reply.id());
        assertEquals(B, reply.model());
        assertEquals(2, reply.choices().size());
        List<TokenLogprob> recomputed = scores(concat(prompt, want.tokenIds()), fixture.adapterB, 3);
        for (int c = 0; c < 2; c++) {
            ChatCompletion.Choice choice = reply.choices().get(c);
            assertEquals(c, choice.index());
            assertEquals(want.text(), choice.message().content().orElseThrow(), "greedy: every choice is the model's own answer");
            assertEquals(want.finishReason(), choice.finishReason().asString());
            List<ChatCompletionTokenLogprob> content = choice.logprobs().orElseThrow().content().orElseThrow();
            assertEquals(want.tokenIds().length, content.size());
            for (int i = 0; i < content.size(); i++) {
                TokenLogprob expected = recomputed.get(prompt.length - 1 + i);
                ChatCompletionTokenLogprob got = content.get(i);
                String text = tokenizer.decode(new int[] {expected.token()}, false);
                assertEquals(text, got.token());
                assertEquals(expected.logprob(), got.logprob(), TOLERANCE, "token " + i);
                byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
                assertEquals(bytes.length, got.bytes().orElseThrow().size());
                assertEquals(3, got.topLogprobs().size());
                assertEquals(expected.topLogprobs()[0], got.topLogprobs().get(0).logprob(), TOLERANCE);
                assertTrue(got.logprob() <= got.topLogprobs().get(0).logprob() + TOLERANCE);
            }
        }
        var usage = reply.usage().orElseThrow();
        assertEquals(prompt.length, usage.promptTokens(), "the prompt is counted once, whatever n");
        assertEquals(2L * want.tokenIds().length, usage.completionTokens());
        assertEquals(usage.promptTokens() + usage.completionTokens(), usage.totalTokens());

        open.log().flush();
        LoggedRequest logged = open.log().find(reply.id()).orElseThrow();
        assertEquals(B, logged.target());
        assertEquals(LoggedRequest.Status.OK, logged.status());
        assertEquals(2 * want.tokenIds().length, logged.completionTokens());
        assertTrue(logged.prompt().contains("Tell me about the sea"), logged.prompt());
        assertTrue(open.metrics().scrape().contains("tailor_requests_total{adapter=\"" + B + "\",model=\"" + B + "\",status=\"ok\"}"));
    }

    @Test
    void streamedChatConcatenatesToTheSameAnswerAndEndsWithUsage() {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("tiny")
                .addUserMessage("Count to three").maxCompletionTokens(7).temperature(0.0)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client(open).chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunks::add);
        }
        int[] prompt = chat.encodePrompt(List.of(message("user", "Count to three")), null);
        dev.tailor.model.Completion want = alone(prompt, null, 7);
        assertEquals(7, want.tokenIds().length, "a prompt whose answer does not stop at once: " + want.text());

        assertEquals("assistant", chunks.get(0).choices().get(0).delta().role().orElseThrow().asString());
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (ChatCompletionChunk chunk : chunks.subList(0, chunks.size() - 1)) {
            assertEquals(chunks.get(0).id(), chunk.id());
            assertEquals("chat.completion.chunk", chunk._object_().asStringOrThrow());
            ChatCompletionChunk.Choice choice = chunk.choices().get(0);
            choice.delta().content().ifPresent(text::append);
            if (choice.finishReason().isPresent()) {
                assertNull(finish, "one final chunk");
                finish = choice.finishReason().get().asString();
            }
        }
        assertEquals(want.text(), text.toString());
        assertEquals(want.finishReason(), finish);
        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertTrue(last.choices().isEmpty());
        var usage = last.usage().orElseThrow();
        assertEquals(prompt.length, usage.promptTokens());
        assertEquals(want.tokenIds().length, usage.completionTokens());

        // and the wire format itself: SSE data lines ending with [DONE]
        String raw = post(open.url("/v1/chat/completions"), null, """
                {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": true}""").body();
        assertTrue(raw.startsWith("data: {"), raw);
        assertTrue(raw.endsWith("data: [DONE]\n\n"), raw);
    }

    @Test
    void completionsReportLegacyLogprobsAndEchoScoresThePrompt() {
        String text = "The quick brown fox";
        int[] prompt = chat.encodePromptText(text);
        Completion reply = client(open).completions().create(CompletionCreateParams.builder().model(B).prompt(text)
                .maxTokens(5).temperature(0.0).logprobs(2).build());
        dev.tailor.model.Completion want = alone(prompt, fixture.adapterB, 5);
        assertEquals(5, want.tokenIds().length, want.text());
        assertTrue(reply.id().startsWith("cmpl-"), reply.id());
        CompletionChoice choice = reply.choices().get(0);
        assertEquals(want.text(), choice.text());
        CompletionChoice.Logprobs lp = choice.logprobs().orElseThrow();
        List<TokenLogprob> recomputed = scores(concat(prompt, want.tokenIds()), fixture.adapterB, 2);
        List<Double> tokenLogprobs = lp.tokenLogprobs().orElseThrow();
        assertEquals(want.tokenIds().length, tokenLogprobs.size());
        long offset = 0;
        for (int i = 0; i < tokenLogprobs.size(); i++) {
            assertEquals(recomputed.get(prompt.length - 1 + i).logprob(), tokenLogprobs.get(i), TOLERANCE, "token " + i);
            assertEquals(tokenizer.decode(new int[] {want.tokenIds()[i]}, false), lp.tokens().orElseThrow().get(i));
            assertEquals(offset, lp.textOffset().orElseThrow().get(i));
            offset += lp.tokens().orElseThrow().get(i).length();
            assertEquals(2, lp.topLogprobs().orElseThrow().get(i)._additionalProperties().size());
        }

        // echo + logprobs + max_tokens 0: the prompt's own log-probabilities, the first one null
        Completion echoed = client(open).completions().create(CompletionCreateParams.builder().model(B).prompt(text)
                .maxTokens(0).echo(true).logprobs(0).build());
        CompletionChoice e = echoed.choices().get(0);
        assertEquals(text, e.text());
        List<Double> promptLogprobs = e.logprobs().orElseThrow().tokenLogprobs().orElseThrow();
        double[] expected = withAdapter(fixture.adapterB, () -> fixture.model.logprobs(prompt));
        assertEquals(prompt.length, promptLogprobs.size());
        assertNull(promptLogprobs.get(0));
        for (int i = 1; i < prompt.length; i++) {
            assertEquals(expected[i - 1], promptLogprobs.get(i), TOLERANCE, "prompt token " + i);
        }
        assertEquals(0, echoed.usage().orElseThrow().completionTokens());
    }

    @Test
    void tokenIdPromptsAndStreamedCompletions() {
        int[] ids = {5, 17, 33, 2, 99};
        HttpResponse<String> r = post(open.url("/v1/completions"), null,
                "{\"model\": \"tiny\", \"prompt\": [[5, 17, 33, 2, 99], [7, 8]], \"max_tokens\": 3, \"temperature\": 0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = ServeFixture.readTree(r.body());
        assertEquals(alone(ids, null, 3).text(), body.at("/choices/0/text").asText());
        assertEquals(alone(new int[] {7, 8}, null, 3).text(), body.at("/choices/1/text").asText());
        assertEquals(7, body.at("/usage/prompt_tokens").asInt());

        String stream = post(open.url("/v1/completions"), null, "{\"model\": \"tiny\", \"prompt\": [5, 17, 33, 2, 99],"
                + " \"max_tokens\": 3, \"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}}").body();
        StringBuilder text = new StringBuilder();
        List<String> events = stream.lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", events.get(events.size() - 1));
        for (String event : events.subList(0, events.size() - 2)) {
            text.append(ServeFixture.readTree(event).at("/choices/0/text").asText());
        }
        assertEquals(alone(ids, null, 3).text(), text.toString());
        assertEquals(ids.length + 3, ServeFixture.readTree(events.get(events.size() - 2)).at("/usage/total_tokens").asInt());
    }

    /** Base and both adapters at once, several requests each: every answer is what its model gives alone. */
    @Test
    void concurrentRequestsToDifferentAdaptersMatchEachAlone() throws Exception {
        String[] models = {"tiny", A, B, "tiny", A, B};
        Path[] adapters = {null, fixture.adapterA, fixture.adapterB, null, fixture.adapterA, fixture.adapterB};
        ExecutorService pool = Executors.newFixedThreadPool(models.length);
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Completion>> replies = new ArrayList<>();
            for (int i = 0; i < models.length; i++) {
                String prompt = "Request number " + i + " wants";
                String model = models[i];
                replies.add(pool.submit(() -> {
                    go.await();
                    return client(open).completions().create(CompletionCreateParams.builder().model(model).prompt(prompt)
                            .maxTokens(6).temperature(0.0).logprobs(0).build());
                }));
            }
            go.countDown();
            for (int i = 0; i < models.length; i++) {
                int[] prompt = chat.encodePromptText("Request number " + i + " wants");
                dev.tailor.model.Completion want = alone(prompt, adapters[i], 6);
                CompletionChoice got = replies.get(i).get().choices().get(0);
                assertEquals(want.text(), got.text(), models[i] + " request " + i);
                List<TokenLogprob> recomputed = scores(concat(prompt, want.tokenIds()), adapters[i], 0);
                List<Double> lps = got.logprobs().orElseThrow().tokenLogprobs().orElseThrow();
                for (int t = 0; t < lps.size(); t++) {
                    assertEquals(recomputed.get(prompt.length - 1 + t).logprob(), lps.get(t), TOLERANCE, models[i] + " token " + t);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        // every decoding step reached /metrics with its batch size
        EngineStats stats = open.engine().stats();
        String scraped = open.metrics().scrape();
        assertTrue(scraped.contains("tailor_batch_size_count " + stats.decodeSteps() + "\n"), scraped);
        assertTrue(scraped.contains("tailor_batch_size_sum " + (double) stats.decodedTokens() + "\n"), scraped);
        // the adapters do change the answer, so the comparison above could tell them apart
        int[] probe = chat.encodePromptText("Request number 0 wants");
        assertFalse(Arrays.equals(scores(probe, null, 0).stream().mapToDouble(TokenLogprob::logprob).toArray(),
                scores(probe, fixture.adapterA, 0).stream().mapToDouble(TokenLogprob::logprob).toArray()));
    }

    @Test
    void experimentsAssignStickyVariantsAndSplitAsConfigured() {
        Map<String, String> seen = new HashMap<>();
        for (int round = 0; round < 2; round++) {
            for (String user : List.of("ann", "bob", "cid", "dee", "eve", "fay")) {
                ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("ab").addUserMessage("Hello")
                        .maxCompletionTokens(2).temperature(0.0).user(user).build();
                HttpResponseFor<ChatCompletion> raw = client(open).chat().completions().withRawResponse().create(params);
                String variant = raw.headers().values(GenerationEndpoints.VARIANT_HEADER).get(0);
                ChatCompletion reply = raw.parse();
                assertEquals(variant, reply._additionalProperties().get("variant").asStringOrThrow());
                assertEquals("ab", reply.model());
                String before = seen.putIfAbsent(user, variant);
                assertTrue(before == null || before.equals(variant), user + " moved from " + before + " to " + variant);
                open.log().flush();
                LoggedRequest logged = open.log().find(reply.id()).orElseThrow();
                assertEquals(variant, logged.variant());
                assertEquals(variant.equals("tuned") ? A : ModelCatalog.BASE, logged.target());
                if (variant.equals("tuned")) {
                    assertTrue(logged.prompt().contains("Answer briefly."), "the variant's system prompt: " + logged.prompt());
                }
            }
        }
        assertEquals(2, Set.copyOf(seen.values()).size(), "six users, 50/50: both variants served " + seen);

        // the guide's 90/10 over many simulated users, through the router the endpoint uses
        Caller anyone = Caller.anonymous(RequestLimits.DEFAULT);
        int tuned = 0;
        int users = 20_000;
        for (int i = 0; i < users; i++) {
            if (open.catalog().resolve(anyone, "guide", "user-" + i, Instant.now()).variant().name().equals("tuned")) {
                tuned++;
            }
        }
        assertEquals(0.10, tuned / (double) users, 0.01, "binomial sd is 0.002 for 20,000 users");
    }

    @Test
    void aTenantCannotGenerateWithAnotherTenantsAdapter() {
        String keys = """
                api_keys:
                  - {key_sha256: %s, tenant: acme, adapters: [%s]}
                  - {key_sha256: %s, tenant: globex, adapters: [%s], base: false}
                """.formatted(ServerModelsTest.ACME_HASH, A, ServerModelsTest.GLOBEX_HASH, B);
        try (ServeFixture.Running keyed = fixture.start(ServeConfig.parse(served() + keys, dir, "keyed.yaml"), dir.resolve("keyed.db"))) {
            OpenAIClient acme = ServerModelsTest.client(keyed, "sk-acme-1");
            assertEquals(1, acme.completions().create(CompletionCreateParams.builder().model(A).prompt("x").maxTokens(1).build())
                    .choices().size());
            NotFoundException chat = assertThrows(NotFoundException.class, () -> acme.chat().completions().create(
                    ChatCompletionCreateParams.builder().model(B).addUserMessage("x").maxCompletionTokens(1).build()));
            NotFoundException unknown = assertThrows(NotFoundException.class, () -> acme.chat().completions().create(
                    ChatCompletionCreateParams.builder().model("no-such-adapter").addUserMessage("x").maxCompletionTokens(1).build()));
            assertEquals(unknown.getMessage().replace("no-such-adapter", B), chat.getMessage(), "indistinguishable from a missing model");
            assertThrows(NotFoundException.class, () -> acme.completions().create(
                    CompletionCreateParams.builder().model(B).prompt("x").maxTokens(1).build()));
            OpenAIClient globex = ServerModelsTest.client(keyed, "sk-globex-1");
            assertThrows(NotFoundException.class, () -> globex.completions().create(
                    CompletionCreateParams.builder().model("tiny").prompt("x").maxTokens(1).build()));
        }
    }

    @Test
    void aPromptBeyondTheContextIsA400NamingTheLimit() {
        String longText = "word ".repeat(400);
        HttpResponse<String> r = post(open.url("/v1/chat/completions"), null,
                "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"" + longText + "\"}]}");
        JsonNode error = ServeFixture.readTree(r.body()).get("error");
        assertEquals(400, r.statusCode(), r.body());
        assertEquals("context_length_exceeded", error.get("code").asText());
        assertTrue(error.get("message").asText().contains("more than the 256 tokens this model serves"), r.body());
        HttpResponse<String> budget = post(open.url("/v1/completions"), null,
                "{\"model\": \"tiny\", \"prompt\": \"hello\", \"max_tokens\": 1000}");
        assertEquals(400, budget.statusCode(), budget.body());
        assertEquals("prompt", ServeFixture.readTree(budget.body()).at("/error/param").asText());
    }

    /**
     * One running place and no waiting room: a generation held on the engine's thread fills it, so
     * the next HTTP request is refused with 429 and Retry-After. Then a streaming client that goes
     * away mid-answer: its generation is cancelled (logged as such, far short of its budget).
     */
    @Test
    void overloadIs429AndAClientThatGoesAwayCancelsItsGeneration() throws Exception {
        EngineOptions one = EngineOptions.defaults().withMaxRunning(1).withMaxWaiting(0).withMaxSequenceLength(2048);
        try (ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("busy.db"), one)) {
            Runnable release = holdTheOnlyPlace(r);
            HttpResponse<String> refused = post(r.url("/v1/chat/completions"), null,
                    "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2}");
            assertEquals(429, refused.statusCode(), refused.body());
            assertEquals("1", refused.headers().firstValue("Retry-After").orElseThrow());
            assertEquals("rate_limit_exceeded", ServeFixture.readTree(refused.body()).at("/error/code").asText());
            release.run();

            int budget = 2000;
            HttpRequest request = HttpRequest.newBuilder(URI.create(r.url("/v1/completions"))).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"prompt\": [1, 2, 3], \"temperature\": 0,"
                            + " \"stream\": true, \"max_tokens\": " + budget + "}")).build();
            HttpClient client = HttpClient.newHttpClient();
            HttpResponse<InputStream> streaming = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            String id;
            try (InputStream in = streaming.body()) {
                byte[] first = new byte[64];
                int n = in.readNBytes(first, 0, first.length);
                String start = new String(first, 0, n, StandardCharsets.UTF_8);
                assertTrue(start.startsWith("data: {\"id\":\"cmpl-"), start);
                id = start.substring(start.indexOf("cmpl-"), start.indexOf('"', start.indexOf("cmpl-")));
            } // closing the body before its end closes the connection
            LoggedRequest logged = awaitLogged(r, id);
            assertEquals(LoggedRequest.Status.CANCELLED, logged.status());
            assertTrue(logged.completionTokens() < budget, logged.completionTokens() + " tokens");
        }
    }

    /**
     * A streaming request still waiting for a place when its client goes away is dropped before it
     * is prefilled: its silent stream gets a keep-alive comment every second, and the failed write
     * cancels it. (Before, it was noticed only at its first token, so abandoned requests in the
     * queue were still prefilled.)
     */
    @Test
    void aStreamingRequestWhoseClientLeavesWhileQueuedIsNeverGenerated() throws Exception {
        EngineOptions one = EngineOptions.defaults().withMaxRunning(1).withMaxWaiting(4).withMaxSequenceLength(2048);
        try (ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("queued.db"), one)) {
            Runnable release = holdTheOnlyPlace(r);
            HttpRequest request = HttpRequest.newBuilder(URI.create(r.url("/v1/chat/completions"))).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\","
                            + " \"content\": \"hi\"}], \"temperature\": 0, \"stream\": true, \"max_tokens\": 50}")).build();
            HttpResponse<InputStream> streaming = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofInputStream());
            String id;
            try (InputStream in = streaming.body()) {
                byte[] first = new byte[64];
                String start = new String(first, 0, in.readNBytes(first, 0, first.length), StandardCharsets.UTF_8);
                id = start.substring(start.indexOf("chatcmpl-"), start.indexOf('"', start.indexOf("chatcmpl-")));
            } // the role chunk came at once; closing the body now closes the connection while the request waits
            Thread.sleep(4_000); // a few keep-alive intervals: the writes after the close fail
            release.run();
            LoggedRequest logged = awaitLogged(r, id);
            assertEquals(LoggedRequest.Status.CANCELLED, logged.status());
            assertEquals(0, logged.completionTokens(), "dropped from the queue, never prefilled");
        }
    }

    /**
     * Fills the engine's one running place with a generation whose listener holds the engine's thread
     * at its first token; running the returned action lets it finish and waits for it.
     */
    private static Runnable holdTheOnlyPlace(ServeFixture.Running r) {
        CountDownLatch gate = new CountDownLatch(1);
        ServeFixtures.Collector held = new ServeFixtures.Collector(gate);
        r.engine().submit(new GenerationRequest(new int[] {1, 2, 3}, null, SamplingParams.greedy(2, Set.of()), 0, held));
        ServeFixtures.await(held.atFirstToken);
        return () -> {
            gate.countDown();
            held.result();
        };
    }

    /** The request log's record of {@code id}, once the asynchronous writer has it (up to 30 s). */
    private static LoggedRequest awaitLogged(ServeFixture.Running r, String id) throws InterruptedException {
        for (int i = 0; i < 600; i++) {
            r.log().flush();
            LoggedRequest logged = r.log().find(id).orElse(null);
            if (logged != null) {
                return logged;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("request " + id + " was not logged");
    }

    /** A drain of 0 s: closing the server cancels the stream in flight, which ends with an error event and is logged. */
    @Test
    void closingTheServerCancelsWhatOutlivesTheDrain() throws Exception {
        EngineOptions roomy = EngineOptions.defaults().withMaxSequenceLength(2048);
        ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("drain.db"), roomy, Duration.ZERO);
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create(r.url("/v1/chat/completions"))).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\","
                            + " \"content\": \"hi\"}], \"temperature\": 0, \"stream\": true, \"max_tokens\": 2000}")).build();
            HttpResponse<InputStream> streaming = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream in = streaming.body()) {
                assertTrue(in.read() >= 0, "the stream started");
                r.server().close();
                String rest = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                List<String> events = rest.lines().filter(l -> l.startsWith("data: ")).toList();
                String last = events.get(events.size() - 1);
                assertEquals("server_shutting_down", ServeFixture.readTree(last.substring(6)).at("/error/code").asText(), last);
                assertFalse(rest.contains("[DONE]"));
                String id = rest.substring(rest.indexOf("chatcmpl-"), rest.indexOf('"', rest.indexOf("chatcmpl-")));
                r.log().flush();
                LoggedRequest logged = r.log().find(id).orElseThrow();
                assertEquals(LoggedRequest.Status.CANCELLED, logged.status());
                assertTrue(logged.completionTokens() < 2000, logged.completionTokens() + " tokens");
            }
        } finally {
            r.close();
        }
    }

    @Test
    void loggedRequestsAndFeedbackSurviveARestart() {
        Path db = dir.resolve("restart.db");
        String id;
        try (ServeFixture.Running first = fixture.start(ServeConfig.parse(served(), dir, "serve.yaml"), db)) {
            ChatCompletion reply = client(first).chat().completions().create(ChatCompletionCreateParams.builder().model("ab")
                    .addUserMessage("Hi").maxCompletionTokens(2).user("ann").build());
            id = reply.id();
            HttpResponse<String> fb = post(first.url("/v1/experiments/ab/feedback"), null,
                    "{\"response_id\": \"" + id + "\", \"score\": 0.75}");
            assertEquals(200, fb.statusCode(), fb.body());
        }
        try (ServeFixture.Running second = fixture.start(ServeConfig.parse(served(), dir, "serve.yaml"), db)) {
            LoggedRequest logged = second.log().find(id).orElseThrow();
            assertEquals("ann", logged.user());
            Map<String, VariantStats> stats = second.log().variantStats("ab");
            VariantStats v = stats.get(logged.variant());
            assertEquals(1, v.requests());
            assertEquals(1, v.feedback().count());
            assertEquals(0.75, v.feedback().mean(), 1e-12);
        }
    }
}
