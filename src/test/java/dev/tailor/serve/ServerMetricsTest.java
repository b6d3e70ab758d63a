package dev.tailor.serve;

import static dev.tailor.serve.ServeFixture.Http.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GET /metrics: the Prometheus text format (label names sorted), with the values generation and the request log feed it. */
class ServerMetricsTest {
    /** A sample line: name, optional labels, value. */
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)");

    @TempDir
    Path dir;

    private static LoggedRequest served(String id, String model, String adapter, double latencyMs, Double ttftMs, int completion,
                                        LoggedRequest.Status status) {
        return new LoggedRequest(id, Instant.now(), null, model, adapter, null, null, null, "[]", "", latencyMs, ttftMs, 7, completion, status);
    }

    @Test
    void whatGenerationReportsIsExposedInThePrometheusTextFormat() throws Exception {
        try (ServeFixture fixture = new ServeFixture(dir);
             ServeFixture.Running r = fixture.start(ServeConfig.parse("adapters: {support-v1: " + fixture.adapterA + "}", dir, "s.yaml"),
                     dir.resolve("log.db"))) {
            ServeMetrics m = r.metrics();
            m.record(served("a", "support-ab", "support-v1", 300, 40.0, 5, LoggedRequest.Status.OK));
            m.record(served("b", "support-ab", "support-v1", 2000, 120.0, 7, LoggedRequest.Status.OK));
            m.record(served("c", "tiny", "base", 10, null, 0, LoggedRequest.Status.CANCELLED));
            m.interTokenLatency("tiny", "base", 0.02);
            m.decodeStep(3);
            m.decodeStep(5);
            m.queueDepth(2);
            m.running(4);
            r.log().close();
            r.log().log(served("late", "tiny", "base", 1, null, 0, LoggedRequest.Status.OK)); // a closed log drops and counts it
            get(r.url("/health"), null);

            HttpResponse<String> response = get(r.url("/metrics"), null);
            assertEquals(200, response.statusCode());
            assertEquals("text/plain; version=0.0.4; charset=utf-8", response.headers().firstValue("Content-Type").orElseThrow());
            List<String> lines = response.body().lines().toList();
            for (String expected : List.of(
                    "tailor_requests_total{adapter=\"support-v1\",model=\"support-ab\",status=\"ok\"} 2.0",
                    "tailor_requests_total{adapter=\"base\",model=\"tiny\",status=\"cancelled\"} 1.0",
                    "tailor_prompt_tokens_total{adapter=\"support-v1\",model=\"support-ab\"} 14.0",
                    "tailor_completion_tokens_total{adapter=\"support-v1\",model=\"support-ab\"} 12.0",
                    // latencies 0.3 s and 2 s: none up to 0.25, one up to 0.5, both up to 2.5
                    "tailor_request_latency_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"0.25\"} 0",
                    "tailor_request_latency_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"0.5\"} 1",
                    "tailor_request_latency_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"2.5\"} 2",
                    "tailor_request_latency_seconds_count{adapter=\"support-v1\",model=\"support-ab\"} 2",
                    "tailor_request_latency_seconds_sum{adapter=\"support-v1\",model=\"support-ab\"} 2.3",
                    // first tokens after 40 and 120 ms; the cancelled request had none
                    "tailor_time_to_first_token_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"0.05\"} 1",
                    "tailor_time_to_first_token_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"0.1\"} 1",
                    "tailor_time_to_first_token_seconds_bucket{adapter=\"support-v1\",model=\"support-ab\",le=\"0.25\"} 2",
                    "tailor_inter_token_latency_seconds_bucket{adapter=\"base\",model=\"tiny\",le=\"0.025\"} 1",
                    "tailor_batch_size_bucket{le=\"2.0\"} 0",
                    "tailor_batch_size_bucket{le=\"4.0\"} 1",
                    "tailor_batch_size_bucket{le=\"8.0\"} 2",
                    "tailor_batch_size_sum 8.0",
                    "tailor_queue_depth 2.0",
                    "tailor_requests_running 4.0",
                    "tailor_adapters_loaded 1.0",
                    "tailor_request_log_dropped_total 1.0",
                    "tailor_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1.0")) {
                assertTrue(lines.contains(expected), "missing: " + expected + "\n" + response.body());
            }
            assertTrue(lines.stream().noneMatch(l -> l.startsWith("tailor_time_to_first_token_seconds_count{adapter=\"base\"")),
                    "a request without a first token observes no time to first token");
            checkFormat(lines);
        }
    }

    /** Every sample is well-formed and belongs to a family announced by # HELP and # TYPE lines. */
    private static void checkFormat(List<String> lines) {
        Set<String> typed = new HashSet<>();
        for (String line : lines) {
            if (line.startsWith("# TYPE ")) {
                String[] parts = line.split(" ");
                assertTrue(Set.of("counter", "gauge", "histogram").contains(parts[3]), line);
                typed.add(parts[2]);
            } else if (!line.startsWith("# HELP ")) {
                Matcher sample = SAMPLE.matcher(line);
                assertTrue(sample.matches(), "not a sample line: " + line);
                String family = sample.group(1).replaceFirst("_(bucket|count|sum)$", "");
                assertTrue(typed.contains(family) || typed.contains(sample.group(1)), "no # TYPE before " + line);
            }
        }
        assertTrue(typed.size() >= 15, "families: " + typed);
    }

    @Test
    void withKeysOnlyAnAdminKeyReadsMetrics() throws Exception {
        try (ServeFixture fixture = new ServeFixture(dir);
             ServeFixture.Running r = fixture.start(ServeConfig.parse("""
                     api_keys:
                       - {key_sha256: %s, tenant: acme}
                       - {key_sha256: %s, tenant: ops, admin: true}
                     """.formatted(ServerModelsTest.ACME_HASH, ServerModelsTest.ADMIN_HASH), dir, "s.yaml"), dir.resolve("log.db"))) {
            assertEquals(401, get(r.url("/metrics"), null).statusCode());
            HttpResponse<String> tenant = get(r.url("/metrics"), "sk-acme-1");
            assertEquals(403, tenant.statusCode());
            assertEquals("Reading /metrics needs an API key with admin: true in serve.yaml.",
                    ServerModelsTest.errorOf(tenant.body()).get("message"));
            assertEquals(200, get(r.url("/metrics"), "sk-admin-1").statusCode());
            assertEquals(200, get(r.url("/health"), null).statusCode(), "health needs no key: load balancers call it");
        }
    }
}
