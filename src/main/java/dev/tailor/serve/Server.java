package dev.tailor.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import io.javalin.Javalin;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.router.Endpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;

/**
 * The OpenAI-compatible HTTP server (Javalin on Jetty): models, experiments, adapters, health and
 * metrics, with API keys, per-key limits and OpenAI-style errors on every path.
 *
 * <p>Every request under {@code /v1} first passes {@link #admit}: it is refused with 503 while
 * the server drains, authenticated ({@link ApiKeys}, 401), and counted against its key's
 * concurrency limit (429 with {@code Retry-After}); the count is released when the answer is
 * complete. Handlers then read their body with {@link #jsonBody} (the key's size limit: 413) and
 * throw {@link ApiError} or {@link TailorException} (400) for what is wrong; anything else
 * becomes a 500 without details, logged on stderr with a reference.
 *
 * <p>Endpoints: {@code GET /health}, {@code GET /metrics} (admin when keys are configured),
 * {@code POST /v1/chat/completions} and {@code POST /v1/completions} ({@link GenerationEndpoints}),
 * {@code GET /v1/models[/{model}]}, {@code GET|POST /v1/experiments}, {@code GET
 * /v1/experiments/{name}[/results]}, {@code POST /v1/experiments/{name}/feedback}, {@code GET|POST
 * /v1/adapters} and {@code DELETE /v1/adapters/{name}} (admin).
 */
public final class Server implements AutoCloseable {
    /**
     * @param host         where to listen; 127.0.0.1 is the only choice without API keys (see ServeCommand)
     * @param port         0 picks a free port ({@link #port()} tells which)
     * @param drainTimeout how long {@link #close} waits for requests in flight
     */
    public record Settings(String host, int port, Duration drainTimeout) {}

    private static final String CALLER = "tailor.caller";
    private static final String ADMITTED = "tailor.admitted";
    private static final String STARTED = "tailor.started";
    private static final String JSON = "application/json";
    private static final Set<String> ADAPTER_FIELDS = Set.of("name", "path");
    /** Seconds a client over its concurrency limit is asked to wait: requests take seconds, not minutes. */
    private static final int RETRY_AFTER_SECONDS = 1;
    /** How long cancelled requests may take to answer once the engine cancelled them. */
    private static final Duration ANSWER_AFTER_CANCEL = Duration.ofSeconds(5);

    private final Settings settings;
    private final ModelCatalog catalog;
    private final ApiKeys keys;
    private final RequestLog log;
    private final ServeMetrics metrics;
    private final ConcurrencyLimiter limiter = new ConcurrencyLimiter();
    private final BatchingEngine engine;
    private final GenerationEndpoints generations;
    private final Javalin app;
    private volatile boolean draining;
    private boolean stopped;

    /**
     * @param engine   generates for the chat and text completions endpoints; its adapters are
     *                 {@code catalog}'s (an {@link EngineAdapterCatalog}). {@link #close} shuts it down.
     */
    public Server(Settings settings, BatchingEngine engine, ModelCatalog catalog, ApiKeys keys, RequestLog log, ServeMetrics metrics) {
        this.settings = settings;
        this.engine = engine;
        this.generations = new GenerationEndpoints(engine, catalog, log, metrics);
        engine.observeDecodeSteps(metrics::decodeStep);
        this.catalog = catalog;
        this.keys = keys;
        this.log = log;
        this.metrics = metrics;
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.jetty.host = settings.host();
            config.jetty.port = settings.port();
            config.http.maxRequestSize = keys.largestRequestBytes();
            config.jetty.modifyServer(server -> {
                server.setErrorHandler(new JettyErrors());
                // the limiter counts a request done when its handler returns; Jetty must still write the
                // answer (or a stream's last event) before it stops, or the client sees a closed connection
                server.insertHandler(new GracefulHandler());
                server.setStopTimeout(ANSWER_AFTER_CANCEL.toMillis());
            });
            routes(config.routes);
        });
    }

    private void routes(RoutesConfig r) {
        r.before(ctx -> ctx.attribute(STARTED, System.nanoTime()));
        r.before("/v1/*", this::admit);
        r.after("/v1/*", this::release);
        r.after(this::count);

        r.get("/health", this::health);
        r.get("/metrics", this::metrics);
        r.post("/v1/chat/completions", generations::chat);
        r.post("/v1/completions", generations::completions);
        r.get("/v1/models", ctx -> respond(ctx, list(catalog.models(caller(ctx)))));
        r.get("/v1/models/{model}", ctx -> respond(ctx, catalog.model(caller(ctx), ctx.pathParam("model"))));
        r.post("/v1/experiments", this::defineExperiment);
        r.get("/v1/experiments", ctx -> respond(ctx, list(catalog.experiments(caller(ctx)).stream().map(this::experimentJson).toList())));
        r.get("/v1/experiments/{name}", ctx -> respond(ctx, experimentJson(catalog.experiment(caller(ctx), ctx.pathParam("name")))));
        r.get("/v1/experiments/{name}/results", this::results);
        r.post("/v1/experiments/{name}/feedback", this::feedback);
        r.get("/v1/adapters", this::listAdapters);
        r.post("/v1/adapters", this::loadAdapter);
        r.delete("/v1/adapters/{name}", this::unloadAdapter);

        r.exception(ApiError.class, (e, ctx) -> answer(ctx, e));
        r.exception(TailorException.class, (e, ctx) -> answer(ctx, ApiError.invalid(e.getMessage(), null)));
        r.exception(HttpResponseException.class, (e, ctx) -> answer(ctx, httpError(ctx, e)));
        r.exception(Exception.class, (e, ctx) -> answer(ctx, internalError(ctx, e)));
    }

    /** Starts listening; a TailorException when the address cannot be bound. */
    public Server start() {
        try {
            app.start();
        } catch (RuntimeException e) {
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            throw new TailorException("cannot listen on " + settings.host() + ":" + settings.port() + ": " + cause.getMessage(), e);
        }
        return this;
    }

    /** The port it listens on (the chosen one when started with port 0). */
    public int port() {
        return app.port();
    }

    /** The address the listening socket is bound to, as the operating system reports it. */
    public InetSocketAddress address() {
        for (Connector c : app.jettyServer().server().getConnectors()) {
            if (c instanceof ServerConnector connector && connector.getTransport() instanceof ServerSocketChannel channel) {
                try {
                    return (InetSocketAddress) channel.getLocalAddress();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        throw new IllegalStateException("the server is not listening");
    }

    /**
     * Stops taking requests (new ones under /v1 get 503, /health says "draining"), lets the engine
     * finish what it holds for the drain timeout and then cancels the rest (their clients get 503,
     * or an error event on a stream), waits for the answers to be written, then stops listening.
     */
    @Override
    public synchronized void close() {
        if (stopped) {
            return;
        }
        stopped = true;
        draining = true;
        engine.shutdown(settings.drainTimeout());
        try {
            // the engine's cancellations need a moment to reach their clients after the drain timeout
            if (!limiter.awaitIdle(settings.drainTimeout().plus(ANSWER_AFTER_CANCEL))) {
                System.err.println("tailor serve: " + limiter.inFlight() + " requests still running after "
                        + settings.drainTimeout().plus(ANSWER_AFTER_CANCEL).toSeconds() + " s; stopping anyway");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        app.stop();
    }

    /** The caller of a request under /v1, as {@link #admit} authenticated it. */
    public static Caller caller(Context ctx) {
        Caller c = ctx.attribute(CALLER);
        if (c == null) {
            throw new IllegalStateException("no caller: the route " + ctx.path() + " is not under /v1");
        }
        return c;
    }

    /** The request's body as a JSON object, within the caller's size limit (413) and well-formed (400). */
    public static ObjectNode jsonBody(Context ctx) throws IOException {
        return RequestBodies.readObject(ctx.req().getInputStream(), ctx.req().getContentLengthLong(),
                caller(ctx).limits().maxRequestBytes());
    }

    /** Writes {@code body} as JSON with status 200. */
    public static void respond(Context ctx, Object body) {
        ctx.status(200).contentType(JSON).result(Json.compact(body));
    }

    private void admit(Context ctx) {
        if (draining) {
            throw ApiError.shuttingDown();
        }
        Caller caller = keys.authenticate(ctx.header("Authorization"));
        ctx.attribute(CALLER, caller);
        if (!limiter.tryAcquire(caller.identity(), caller.limits().maxConcurrentRequests())) {
            throw ApiError.rateLimited("Too many concurrent requests: this API key may have "
                    + caller.limits().maxConcurrentRequests() + " in flight (limits.max_concurrent_requests in serve.yaml);"
                    + " retry after " + RETRY_AFTER_SECONDS + " s.", RETRY_AFTER_SECONDS);
        }
        ctx.attribute(ADMITTED, Boolean.TRUE);
        metrics.inFlight(tenantLabel(caller), 1);
    }

    private void release(Context ctx) {
        if (Boolean.TRUE.equals(ctx.attribute(ADMITTED))) {
            ctx.attribute(ADMITTED, Boolean.FALSE);
            Caller caller = caller(ctx);
            metrics.inFlight(tenantLabel(caller), -1);
            limiter.release(caller.identity());
        }
    }

    private void count(Context ctx) {
        Long started = ctx.attribute(STARTED);
        Endpoint endpoint = ctx.endpoints().matchedHttpEndpoint();
        String route = endpoint == null ? "unmatched" : endpoint.path;
        metrics.httpRequest(ctx.method().name(), route, ctx.statusCode(),
                started == null ? 0 : (System.nanoTime() - started) / 1e9);
    }

    private static String tenantLabel(Caller caller) {
        return caller.tenant() == null ? Caller.ANONYMOUS : caller.tenant();
    }

    private void health(Context ctx) {
        ctx.status(draining ? 503 : 200).contentType(JSON).result(Json.compact(Map.of("status", draining ? "draining" : "ok")));
    }

    private void metrics(Context ctx) {
        if (keys.configured()) {
            requireAdmin(keys.authenticate(ctx.header("Authorization")), "Reading /metrics");
        }
        ctx.status(200).contentType(ServeMetrics.CONTENT_TYPE).result(metrics.scrape());
    }

    private void defineExperiment(Context ctx) throws IOException {
        requireAdmin(caller(ctx), "Defining experiments");
        Experiment e = catalog.define(Experiment.fromJson(jsonBody(ctx), "experiment"));
        respond(ctx, experimentJson(e));
    }

    private void results(Context ctx) {
        Experiment e = catalog.experiment(caller(ctx), ctx.pathParam("name"));
        respond(ctx, ExperimentResults.compute(e, log, Instant.now()).toJson());
    }

    private void feedback(Context ctx) throws IOException {
        Caller caller = caller(ctx);
        Experiment e = catalog.experiment(caller, ctx.pathParam("name"));
        Feedback f = Feedback.fromJson(jsonBody(ctx));
        if (caller.tenant() != null) {
            // another tenant's responses look exactly like unknown ones
            log.flush();
            if (log.find(f.responseId()).filter(r -> caller.tenant().equals(r.tenant())).isEmpty()) {
                throw ApiError.invalid("feedback: response '" + f.responseId() + "' is not in the request log; give the id of"
                        + " a response this server returned", "response_id");
            }
        }
        try {
            log.feedback(e.name(), f);
        } catch (TailorException notServed) {
            throw ApiError.invalid(notServed.getMessage(), "response_id");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("object", "experiment.feedback");
        out.put("experiment", e.name());
        out.put("response_id", f.responseId());
        out.put("score", f.score());
        respond(ctx, out);
    }

    private void listAdapters(Context ctx) {
        requireAdmin(caller(ctx), "Listing adapters");
        respond(ctx, list(catalog.adapters().adapters().stream().map(this::adapterJson).toList()));
    }

    private void loadAdapter(Context ctx) throws IOException {
        requireAdmin(caller(ctx), "Loading adapters");
        RequestFields f = new RequestFields(jsonBody(ctx), "");
        f.allowOnly(ADAPTER_FIELDS, Map.of());
        String name = f.string("name", true);
        String path = f.string("path", true);
        Path dir;
        try {
            dir = Path.of(path);
        } catch (InvalidPathException e) {
            throw ApiError.invalid("Invalid 'path': " + e.getMessage(), "path");
        }
        respond(ctx, adapterJson(catalog.load(name, dir)));
    }

    private void unloadAdapter(Context ctx) {
        requireAdmin(caller(ctx), "Unloading adapters");
        String name = ctx.pathParam("name");
        catalog.unload(name);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", name);
        out.put("object", "adapter");
        out.put("deleted", true);
        respond(ctx, out);
    }

    private static void requireAdmin(Caller caller, String what) {
        if (!caller.admin()) {
            throw ApiError.adminOnly(what);
        }
    }

    private Map<String, Object> experimentJson(Experiment e) {
        Instant now = Instant.now();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("object", "experiment");
        out.put("created", catalog.experimentCreated(e.name()).map(Instant::getEpochSecond).orElse(null));
        out.put("status", e.status(now));
        out.put("shares", e.shares(now));
        out.putAll(e.toJson());
        return out;
    }

    private Map<String, Object> adapterJson(ServedAdapter a) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", a.name());
        out.put("object", "adapter");
        out.put("created", a.created().getEpochSecond());
        out.put("parent", catalog.baseId());
        out.put("path", a.directory().toString());
        out.put("rank", a.rank());
        return out;
    }

    private static Map<String, Object> list(List<?> data) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("object", "list");
        out.put("data", data);
        return out;
    }

    private static void answer(Context ctx, ApiError e) {
        if (e.retryAfterSeconds() != null) {
            ctx.header("Retry-After", Integer.toString(e.retryAfterSeconds()));
        }
        ctx.status(e.status()).contentType(JSON).result(Json.compact(e.toJson()));
    }

    /** Javalin's own refusals (no such route, ...) in OpenAI's words. */
    private static ApiError httpError(Context ctx, HttpResponseException e) {
        if (e.getStatus() == 404 || e.getStatus() == 405) {
            return new ApiError(404, ApiError.INVALID_REQUEST, "Invalid URL (" + ctx.method().name() + " " + ctx.path() + ")",
                    null, null, null);
        }
        return new ApiError(e.getStatus(), ApiError.INVALID_REQUEST, e.getMessage(), null, null, null);
    }

    /** A fault of the server: logged with a reference, answered without details. */
    private static ApiError internalError(Context ctx, Exception e) {
        String reference = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        System.err.println("tailor serve: internal error " + reference + " on " + ctx.method().name() + " " + ctx.path());
        e.printStackTrace();
        return ApiError.internal(reference);
    }
}
