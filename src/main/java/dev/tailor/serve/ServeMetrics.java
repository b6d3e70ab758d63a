package dev.tailor.serve;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.function.IntSupplier;

/**
 * What {@code GET /metrics} reports, in the Prometheus text format. The HTTP layer feeds the
 * {@code tailor_http_*} metrics itself; generation feeds the rest through {@link #record} (with
 * what it logs), {@link #interTokenLatency}, {@link #decodeStep}, {@link #queueDepth} and
 * {@link #running}. Per-model metrics carry two labels: {@code model}, what the client asked for
 * (base, an adapter or an experiment), and {@code adapter}, what generated ("base" or the adapter).
 */
public final class ServeMetrics {
    public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

    /** Seconds: from a fast health check to a long generation. */
    private static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
    private static final double[] TOKEN_GAP_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter httpRequests;
    private final Histogram httpDuration;
    private final Gauge inFlight;
    private final Counter requests;
    private final Counter promptTokens;
    private final Counter completionTokens;
    private final Histogram latency;
    private final Histogram timeToFirstToken;
    private final Histogram interTokenLatency;
    private final Histogram batchSize;
    private final Gauge queueDepth;
    private final Gauge running;

    /**
     * @param log      its dropped and failed records and queue are reported as they are at each scrape
     * @param adapters how many adapters are loaded, likewise
     */
    public ServeMetrics(RequestLog log, IntSupplier adapters) {
        httpRequests = Counter.builder().name("tailor_http_requests_total")
                .help("HTTP requests answered, by method, route and status").labelNames("method", "route", "status")
                .register(registry);
        httpDuration = histogram("tailor_http_request_duration_seconds", "Time to answer an HTTP request (a stream: until its end)",
                LATENCY_BUCKETS, "method", "route");
        inFlight = Gauge.builder().name("tailor_http_requests_in_flight")
                .help("Requests under /v1 being answered now, by tenant").labelNames("tenant").register(registry);
        requests = Counter.builder().name("tailor_requests_total")
                .help("Generation requests finished, by requested model, adapter and status (ok, error, cancelled)")
                .labelNames("model", "adapter", "status").register(registry);
        promptTokens = Counter.builder().name("tailor_prompt_tokens_total").help("Prompt tokens of finished requests")
                .labelNames("model", "adapter").register(registry);
        completionTokens = Counter.builder().name("tailor_completion_tokens_total").help("Generated tokens of finished requests")
                .labelNames("model", "adapter").register(registry);
        latency = histogram("tailor_request_latency_seconds", "Time from a generation request's arrival to its last token",
                LATENCY_BUCKETS, "model", "adapter");
        timeToFirstToken = histogram("tailor_time_to_first_token_seconds", "Time from a request's arrival to its first generated token",
                LATENCY_BUCKETS, "model", "adapter");
        interTokenLatency = histogram("tailor_inter_token_latency_seconds", "Time between consecutive generated tokens of a request",
                TOKEN_GAP_BUCKETS, "model", "adapter");
        batchSize = histogram("tailor_batch_size", "Sequences in each decode step of the running batch", BATCH_BUCKETS);
        queueDepth = Gauge.builder().name("tailor_queue_depth").help("Requests waiting for a place in the running batch")
                .register(registry);
        running = Gauge.builder().name("tailor_requests_running").help("Requests in the running batch").register(registry);
        GaugeWithCallback.builder().name("tailor_adapters_loaded").help("Adapters served now")
                .callback(cb -> cb.call(adapters.getAsInt())).register(registry);
        CounterWithCallback.builder().name("tailor_request_log_dropped_total")
                .help("Request records dropped because the request log's queue was full (the database fell behind)")
                .callback(cb -> cb.call(log.dropped())).register(registry);
        CounterWithCallback.builder().name("tailor_request_log_failed_total")
                .help("Request records the database refused or could not take")
                .callback(cb -> cb.call(log.failed())).register(registry);
        GaugeWithCallback.builder().name("tailor_request_log_queue_depth").help("Request records waiting to be written")
                .callback(cb -> cb.call(log.queueDepth())).register(registry);
    }

    private Histogram histogram(String name, String help, double[] buckets, String... labels) {
        return Histogram.builder().name(name).help(help).classicOnly().classicUpperBounds(buckets).withoutExemplars()
                .labelNames(labels).register(registry);
    }

    /** A finished generation request, as it is logged: count, tokens, latency and time to first token. */
    public void record(LoggedRequest r) {
        String model = r.model();
        String adapter = r.target();
        requests.labelValues(model, adapter, r.status().dbValue()).inc();
        promptTokens.labelValues(model, adapter).inc(r.promptTokens());
        completionTokens.labelValues(model, adapter).inc(r.completionTokens());
        latency.labelValues(model, adapter).observe(r.latencyMs() / 1000);
        if (r.ttftMs() != null) {
            timeToFirstToken.labelValues(model, adapter).observe(r.ttftMs() / 1000);
        }
    }

    /** A request's next token came {@code seconds} after its previous one. */
    public void interTokenLatency(String model, String adapter, double seconds) {
        interTokenLatency.labelValues(model, adapter).observe(seconds);
    }

    /** One decode step of the running batch ran with {@code sequences} rows. */
    public void decodeStep(int sequences) {
        batchSize.observe(sequences);
    }

    /** Requests waiting for a batch slot now. */
    public void queueDepth(int waiting) {
        queueDepth.set(waiting);
    }

    /** Requests in the running batch now. */
    public void running(int requests) {
        running.set(requests);
    }

    void httpRequest(String method, String route, int status, double seconds) {
        httpRequests.labelValues(method, route, Integer.toString(status)).inc();
        httpDuration.labelValues(method, route).observe(seconds);
    }

    void inFlight(String tenant, int delta) {
        inFlight.labelValues(tenant).inc(delta);
    }

    /** Everything, in the Prometheus text format (version 0.0.4). */
    public String scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
