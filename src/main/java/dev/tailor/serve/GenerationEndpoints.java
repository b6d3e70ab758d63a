package dev.tailor.serve;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.SamplingParams;
import dev.tailor.model.TokenLogprob;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions}: validated requests are
 * routed ({@link ModelCatalog#resolve}), rendered to token ids (the model's chat template through
 * {@link ChatEncoder}, the one rendering implementation), submitted to the {@link BatchingEngine}
 * as n generations per prompt, and answered as one JSON object or as server-sent events. Every
 * routed request is logged to the {@link RequestLog} and counted in {@link ServeMetrics}, whether
 * it succeeded, failed or was cancelled by a client that went away.
 *
 * <p>Runs on the HTTP thread, which waits for the engine: the engine's listeners only queue events
 * ({@link Choices}), so a slow client never holds up the batch.
 */
final class GenerationEndpoints {
    /** The variant an experiment assigned, on every response to a request for an experiment. */
    static final String VARIANT_HEADER = "X-Tailor-Variant";
    /**
     * How long a stream stays silent before a comment line goes out: a client that closed its
     * connection is only noticed when a write fails, and a request still waiting for its first token
     * (or behind other prompts' prefill) would otherwise be noticed only after it was generated.
     */
    private static final long KEEP_ALIVE_MILLIS = 1000;
    private static final byte[] KEEP_ALIVE = ": waiting\n\n".getBytes(StandardCharsets.UTF_8);

    private enum Kind { CHAT, TEXT }

    /**
     * A routed request, ready to generate.
     *
     * @param prompts       token ids, one entry per prompt (chat: one)
     * @param promptTexts   what echo repeats, one per prompt (chat: unused)
     * @param topLogprobs   null without logprobs, else alternatives per token (0..20)
     * @param loggedPrompt  the request's messages or prompt as JSON, for the request log
     */
    private record Job(Kind kind, String id, Instant arrived, long startNanos, Caller caller, ModelRoute route,
                       List<int[]> prompts, List<String> promptTexts, GenerationOptions options, Integer topLogprobs,
                       boolean echo, String loggedPrompt) {
        String adapter() {
            return route.isBase() ? null : route.target();
        }

        int choices() {
            return prompts.size() * options.n();
        }

        int prompt(int choice) {
            return choice / options.n();
        }

        String promptField() {
            return kind == Kind.CHAT ? "messages" : "prompt";
        }
    }

    private final BatchingEngine engine;
    private final ModelCatalog catalog;
    private final RequestLog log;
    private final ServeMetrics metrics;
    private final SamplingParams defaults;
    private final TokenTexts texts;
    private final ChatEncoder encoder;
    /** Why chat requests cannot be served (the model has no chat template), or null. */
    private final String noChatTemplate;

    GenerationEndpoints(BatchingEngine engine, ModelCatalog catalog, RequestLog log, ServeMetrics metrics) {
        this.engine = engine;
        this.catalog = catalog;
        this.log = log;
        this.metrics = metrics;
        this.defaults = SamplingParams.fromGenerationConfig(engine.modelDirectory(), engine.modelConfig());
        this.texts = new TokenTexts(engine.tokenizer());
        ChatTemplate template;
        String problem = null;
        try {
            template = ChatTemplate.fromModelDir(engine.modelDirectory());
        } catch (TailorException e) {
            template = ChatTemplate.chatml(Map.of()); // text prompts only need the tokenizer's BOS rule
            problem = e.getMessage();
        }
        this.encoder = new ChatEncoder(template, engine.tokenizer());
        this.noChatTemplate = problem;
    }

    void chat(Context ctx) throws IOException {
        long start = System.nanoTime();
        Instant arrived = Instant.now();
        Caller caller = Server.caller(ctx);
        ChatCompletionRequest req = ChatCompletionRequest.parse(Server.jsonBody(ctx), caller.limits());
        ModelRoute route = catalog.resolve(caller, req.model(), req.options().user(), arrived);
        if (noChatTemplate != null) {
            throw ApiError.invalid("This model has no chat template, so it cannot answer chat messages (" + noChatTemplate
                    + "); use /v1/completions with a prompt instead.", "messages");
        }
        ArrayNode messages = route.variant() == null ? req.messages() : route.variant().applySystemPrompt(req.messages());
        List<Map<String, Object>> list = Json.MAPPER.convertValue(messages, new TypeReference<List<Map<String, Object>>>() {});
        int[] prompt = encoder.encodePrompt(list, null);
        Job job = new Job(Kind.CHAT, "chatcmpl-" + randomId(), arrived, start, caller, route, List.of(prompt), List.of(""),
                req.options(), req.logprobs() ? req.topLogprobs() : null, false, messages.toString());
        run(ctx, job);
    }

    void completions(Context ctx) throws IOException {
        long start = System.nanoTime();
        Instant arrived = Instant.now();
        Caller caller = Server.caller(ctx);
        var body = Server.jsonBody(ctx);
        CompletionRequest req = CompletionRequest.parse(body, caller.limits());
        ModelRoute route = catalog.resolve(caller, req.model(), req.options().user(), arrived);
        List<int[]> prompts = new ArrayList<>();
        List<String> promptTexts = new ArrayList<>();
        for (CompletionRequest.Prompt p : req.prompts()) {
            if (p.text() != null) {
                prompts.add(encoder.encodePromptText(p.text()));
                promptTexts.add(p.text());
            } else {
                int[] ids = p.tokenIds().stream().mapToInt(Integer::intValue).toArray();
                checkVocabulary(ids);
                prompts.add(ids);
                promptTexts.add(engine.tokenizer().decode(ids, false));
            }
        }
        Job job = new Job(Kind.TEXT, "cmpl-" + randomId(), arrived, start, caller, route, prompts, promptTexts, req.options(),
                req.logprobs(), req.echo(), body.get("prompt").toString());
        run(ctx, job);
    }

    private void checkVocabulary(int[] ids) {
        int vocab = engine.modelConfig().vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] >= vocab) {
                throw ApiError.invalid("Invalid 'prompt': token id " + ids[i] + " at position " + i + " is outside this model's"
                        + " vocabulary (0.." + (vocab - 1) + ").", "prompt");
            }
        }
    }

    private void run(Context ctx, Job job) throws IOException {
        if (job.route().experiment() != null) {
            ctx.header(VARIANT_HEADER, job.route().variant().name());
        }
        Choices choices = new Choices(job.route().model(), job.route().target(), metrics, job.startNanos());
        List<List<TokenLogprob>> echoed;
        try {
            List<SamplingParams> params = new ArrayList<>();
            for (int[] prompt : job.prompts()) {
                params.add(sampling(job, prompt));
            }
            echoed = job.echo() && job.topLogprobs() != null ? scorePrompts(job) : null;
            if (job.options().maxTokens() == null || job.options().maxTokens() > 0) {
                submit(job, params, choices);
            }
        } catch (RuntimeException e) {
            choices.cancel();
            record(job, List.of(), choices, LoggedRequest.Status.ERROR);
            throw translate(e);
        }
        if (job.options().stream()) {
            stream(ctx, job, choices, echoed);
        } else {
            answer(ctx, job, choices, echoed);
        }
    }

    /** The request's sampling for {@code prompt}, its max_tokens checked against the context. */
    private SamplingParams sampling(Job job, int[] prompt) {
        int room = engine.maxSequenceLength() - prompt.length;
        Integer asked = job.options().maxTokens();
        if (room < (asked == null ? 1 : asked)) {
            String budget = asked == null ? "at least 1 generated token" : "max_tokens " + asked;
            throw ApiError.invalid("The " + job.promptField() + " take " + prompt.length + " tokens" + (job.kind() == Kind.CHAT
                    ? " after the chat template" : "") + "; with " + budget + " that is more than the " + engine.maxSequenceLength()
                    + " tokens this model serves. Shorten the " + job.promptField() + " or lower max_tokens.", job.promptField(),
                    "context_length_exceeded");
        }
        int maxTokens = asked != null ? asked : job.caller().limits().defaultMaxTokens(room);
        return job.options().sampling(defaults, Math.max(maxTokens, 1));
    }

    private List<List<TokenLogprob>> scorePrompts(Job job) {
        List<List<TokenLogprob>> out = new ArrayList<>();
        for (int[] prompt : job.prompts()) {
            List<TokenLogprob> scored;
            try {
                scored = engine.score(prompt, job.adapter(), job.topLogprobs()).join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            List<TokenLogprob> withFirst = new ArrayList<>(prompt.length);
            withFirst.add(null); // nothing predicts the first token: OpenAI reports null
            withFirst.addAll(scored);
            out.add(withFirst);
        }
        return out;
    }

    /** n generations per prompt; a seed gives choice i the seed + i, so choices differ and each is reproducible. */
    private void submit(Job job, List<SamplingParams> params, Choices choices) {
        int top = job.topLogprobs() == null ? 0 : job.topLogprobs();
        for (int p = 0; p < job.prompts().size(); p++) {
            for (int i = 0; i < job.options().n(); i++) {
                SamplingParams sp = params.get(p);
                if (sp.seed() != null && i > 0) {
                    sp = sp.withSeed(sp.seed() + i);
                }
                GenerationListener listener = choices.listener();
                choices.add(engine.submit(new GenerationRequest(job.prompts().get(p), job.adapter(), sp, top, listener)));
            }
        }
    }

    private static RuntimeException translate(RuntimeException e) {
        if (e instanceof EngineOverloadedException overloaded) {
            return ApiError.rateLimited("The server is at capacity (every running and waiting place is taken); retry after "
                    + overloaded.retryAfterSeconds() + " s.", overloaded.retryAfterSeconds());
        }
        if (e instanceof EngineClosedException) {
            return ApiError.shuttingDown();
        }
        if (e instanceof UnknownAdapterException) {
            return ApiError.notFound("The model does not exist or you do not have access to it (its adapter was just unloaded).",
                    "model");
        }
        if (e instanceof TailorException t) {
            return ApiError.invalid(t.getMessage(), null);
        }
        return e;
    }

    // ---- one JSON answer ----

    private void answer(Context ctx, Job job, Choices choices, List<List<TokenLogprob>> echoed) {
        List<GenerationResult> results;
        if (choices.size() == 0) {
            results = null; // echo with max_tokens 0: the prompts are the answer
        } else {
            try {
                results = choices.results();
            } catch (CompletionException e) {
                record(job, List.of(), choices, LoggedRequest.Status.ERROR);
                throw e.getCause() instanceof RuntimeException r ? translate(r) : e;
            }
            if (results.stream().anyMatch(r -> r.finishReason() == FinishReason.CANCELLED)) {
                record(job, results, choices, LoggedRequest.Status.CANCELLED);
                throw ApiError.shuttingDown();
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int c = 0; c < job.choices(); c++) {
            GenerationResult r = results == null ? null : results.get(c);
            out.add(job.kind() == Kind.CHAT ? chatChoice(job, c, r) : textChoice(job, c, r, echoed));
        }
        Map<String, Object> body = envelope(job, job.kind() == Kind.CHAT ? "chat.completion" : "text_completion");
        body.put("choices", out);
        body.put("usage", usage(job, results));
        record(job, results == null ? List.of() : results, choices, LoggedRequest.Status.OK);
        Server.respond(ctx, body);
    }

    private Map<String, Object> chatChoice(Job job, int index, GenerationResult r) {
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("role", "assistant");
        message.put("content", r.text());
        message.put("refusal", null);
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", index);
        choice.put("message", message);
        choice.put("logprobs", job.topLogprobs() == null ? null : texts.chatLogprobs(r.logprobs()));
        choice.put("finish_reason", r.finishReason().apiName());
        return choice;
    }

    private Map<String, Object> textChoice(Job job, int index, GenerationResult r, List<List<TokenLogprob>> echoed) {
        int p = job.prompt(index);
        String prefix = job.echo() ? job.promptTexts().get(p) : "";
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("text", prefix + (r == null ? "" : r.text()));
        choice.put("index", index);
        Object logprobs = null;
        if (job.topLogprobs() != null) {
            int[] ids = r == null ? new int[0] : r.tokenIds();
            List<TokenLogprob> lps = new ArrayList<>(r == null ? List.of() : r.logprobs());
            if (job.echo()) {
                int[] prompt = job.prompts().get(p);
                int[] all = Arrays.copyOf(prompt, prompt.length + ids.length);
                System.arraycopy(ids, 0, all, prompt.length, ids.length);
                lps.addAll(0, echoed.get(p));
                ids = all;
            }
            logprobs = texts.legacy(ids, lps, 0);
        }
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", r == null ? FinishReason.LENGTH.apiName() : r.finishReason().apiName());
        return choice;
    }

    private Map<String, Object> envelope(Job job, String object) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", job.id());
        body.put("object", object);
        body.put("created", job.arrived().getEpochSecond());
        body.put("model", job.route().model());
        if (job.route().experiment() != null) {
            body.put("experiment", job.route().experiment().name());
            body.put("variant", job.route().variant().name());
        }
        return body;
    }

    /** OpenAI counts each prompt once, however many choices it has. */
    private static Map<String, Object> usage(Job job, List<GenerationResult> results) {
        int prompt = job.prompts().stream().mapToInt(p -> p.length).sum();
        int completion = results == null ? 0 : results.stream().mapToInt(GenerationResult::completionTokens).sum();
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        return usage;
    }

    // ---- server-sent events ----

    private void stream(Context ctx, Job job, Choices choices, List<List<TokenLogprob>> echoed) {
        ctx.status(200);
        ctx.res().setContentType("text/event-stream; charset=utf-8");
        ctx.res().setHeader("Cache-Control", "no-cache");
        ctx.res().setHeader("X-Accel-Buffering", "no"); // proxies must pass tokens on as they come
        String object = job.kind() == Kind.CHAT ? "chat.completion.chunk" : "text_completion";
        GenerationResult[] results = new GenerationResult[choices.size()];
        try {
            OutputStream out = ctx.res().getOutputStream();
            for (int c = 0; c < job.choices(); c++) {
                if (job.kind() == Kind.CHAT) {
                    Map<String, Object> delta = new LinkedHashMap<>();
                    delta.put("role", "assistant");
                    delta.put("content", "");
                    send(out, chunk(job, object, chatDelta(c, delta, null, null)));
                } else if (job.echo()) {
                    int p = job.prompt(c);
                    Object lps = echoed == null ? null : texts.legacy(job.prompts().get(p), echoed.get(p), 0);
                    send(out, chunk(job, object, textDelta(c, job.promptTexts().get(p), lps, null)));
                }
            }
            if (choices.size() == 0) {
                for (int c = 0; c < job.choices(); c++) {
                    send(out, chunk(job, object, textDelta(c, "", null, FinishReason.LENGTH.apiName())));
                }
            }
            int[] offsets = new int[choices.size()];
            for (int c = 0; c < offsets.length; c++) {
                offsets[c] = job.echo() ? job.promptTexts().get(job.prompt(c)).length() : 0;
            }
            int open = choices.size();
            RuntimeException failure = null;
            while (open > 0) {
                Choices.Event e = choices.next(KEEP_ALIVE_MILLIS);
                if (e == null) { // an SSE comment, which clients skip: writing is how a client that went away is noticed
                    out.write(KEEP_ALIVE);
                    out.flush();
                    continue;
                }
                int c = e.index();
                if (e instanceof Choices.Token t) {
                    String text = t.token().text();
                    if (text.isEmpty() && job.topLogprobs() == null) {
                        continue; // a held-back piece of text: it comes with a later token
                    }
                    Object lps = null;
                    if (job.topLogprobs() != null) {
                        List<TokenLogprob> one = List.of(t.token().logprob());
                        lps = job.kind() == Kind.CHAT ? texts.chatLogprobs(one)
                                : texts.legacy(new int[] {t.token().tokenId()}, one, offsets[c]);
                        offsets[c] += texts.text(t.token().tokenId()).length();
                    }
                    Map<String, Object> choice = job.kind() == Kind.CHAT ? chatDelta(c, Map.of("content", text), lps, null)
                            : textDelta(c, text, lps, null);
                    send(out, chunk(job, object, choice));
                } else if (e instanceof Choices.Finished f) {
                    open--;
                    results[c] = f.result();
                    if (f.result().finishReason() == FinishReason.CANCELLED) {
                        failure = failure != null ? failure : ApiError.shuttingDown();
                        continue;
                    }
                    String reason = f.result().finishReason().apiName();
                    send(out, chunk(job, object, job.kind() == Kind.CHAT ? chatDelta(c, Map.of(), null, reason)
                            : textDelta(c, "", null, reason)));
                } else if (e instanceof Choices.Failed f) {
                    open--;
                    failure = failure != null ? failure : f.error();
                }
            }
            List<GenerationResult> finished = Arrays.stream(results).filter(r -> r != null).toList();
            if (failure != null) {
                ApiError error = translate(failure) instanceof ApiError a ? a : ApiError.internal("engine");
                record(job, finished, choices, failure instanceof ApiError ? LoggedRequest.Status.CANCELLED : LoggedRequest.Status.ERROR);
                send(out, Map.of("error", error.toJson().get("error")));
                return;
            }
            if (job.options().includeUsage()) {
                Map<String, Object> last = envelope(job, object);
                last.put("choices", List.of());
                last.put("usage", usage(job, choices.size() == 0 ? null : finished));
                send(out, last);
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            record(job, finished, choices, LoggedRequest.Status.OK);
        } catch (IOException | InterruptedException gone) {
            // the client went away (or the server is stopping): free the batch places, log what was generated
            choices.cancel();
            List<GenerationResult> partial = new ArrayList<>();
            try {
                partial.addAll(choices.results());
            } catch (CompletionException failedToo) {
                // nothing more to keep
            }
            record(job, partial, choices, LoggedRequest.Status.CANCELLED);
            if (gone instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private Map<String, Object> chunk(Job job, String object, Map<String, Object> choice) {
        Map<String, Object> body = envelope(job, object);
        body.put("choices", List.of(choice));
        if (job.options().includeUsage()) {
            body.put("usage", null);
        }
        return body;
    }

    private static Map<String, Object> chatDelta(int index, Map<String, Object> delta, Object logprobs, String finishReason) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", index);
        choice.put("delta", delta);
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        return choice;
    }

    private static Map<String, Object> textDelta(int index, String text, Object logprobs, String finishReason) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("text", text);
        choice.put("index", index);
        choice.put("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        return choice;
    }

    private static void send(OutputStream out, Object event) throws IOException {
        out.write(("data: " + Json.compact(event) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    // ---- the request log and metrics ----

    private void record(Job job, List<GenerationResult> results, Choices choices, LoggedRequest.Status status) {
        String response;
        if (results.size() <= 1) {
            response = results.isEmpty() ? "" : results.get(0).text();
        } else {
            response = Json.compact(results.stream().map(GenerationResult::text).toList());
        }
        ModelRoute route = job.route();
        LoggedRequest r = new LoggedRequest(job.id(), job.arrived(), job.caller().tenant(), route.model(), route.target(),
                route.experiment() == null ? null : route.experiment().name(), route.variant() == null ? null : route.variant().name(),
                job.options().user(), job.loggedPrompt(), response, choices.elapsedMs(), choices.ttftMs(),
                job.prompts().stream().mapToInt(p -> p.length).sum(),
                results.stream().mapToInt(GenerationResult::completionTokens).sum(), status);
        metrics.record(r);
        EngineStats stats = engine.stats();
        metrics.queueDepth(stats.queued());
        metrics.running(stats.running());
        log.log(r);
    }

    private static String randomId() {
        byte[] bytes = new byte[12];
        ThreadLocalRandom.current().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }
}
