package dev.tailor.serve;

import static dev.tailor.serve.ServeFixture.Http.get;
import static dev.tailor.serve.ServeFixture.Http.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;
import dev.tailor.tensor.Device;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Limits and failure answers over real HTTP: 413 for large bodies, 429 with Retry-After at a
 * key's concurrency limit, never a 500 for malformed input, and a graceful stop that lets the
 * request in flight finish.
 *
 * <p>The concurrency tests hold a request in flight deterministically: it is sent by hand with
 * only part of its body, so the server has admitted it (the in-flight gauge of /metrics says
 * when) and waits for the rest until the test sends it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServerLimitsTest {
    private static final String EXPERIMENT = "{\"name\": \"ab\", \"variants\": [{\"name\": \"a\", \"target\": \"base\", \"weight\": 1}]}";

    @TempDir
    static Path dir;
    static ServeFixture fixture;
    static ServeFixture.Running keyed;

    @BeforeAll
    static void start() throws Exception {
        fixture = new ServeFixture(dir);
        keyed = fixture.start(ServeConfig.parse("""
                api_keys:
                  - {key_sha256: %s, tenant: acme, admin: true, limits: {max_concurrent_requests: 1, max_request_bytes: 1024}}
                  - {key_sha256: %s, tenant: globex}
                  - {key_sha256: %s, tenant: ops, admin: true}
                """.formatted(ServerModelsTest.ACME_HASH, ServerModelsTest.GLOBEX_HASH, ServerModelsTest.ADMIN_HASH), dir, "serve.yaml"),
                dir.resolve("keyed.db"));
    }

    @AfterAll
    static void stop() {
        keyed.close();
        fixture.close();
    }

    private static JsonNode error(HttpResponse<String> r, int status) {
        assertEquals(status, r.statusCode(), r.body());
        ServerModelsTest.errorOf(r.body());
        return ServeFixture.readTree(r.body()).get("error");
    }

    @Test
    void aBodyOverTheKeysLimitIs413WhetherItsLengthIsDeclaredOrNot() throws Exception {
        String big = EXPERIMENT + " ".repeat(2000 - EXPERIMENT.length());
        JsonNode declared = error(post(keyed.url("/v1/experiments"), "sk-acme-1", big), 413);
        assertEquals("The request body is 2000 bytes; this API key may send at most 1024 bytes (limits.max_request_bytes in serve.yaml).",
                declared.get("message").asText());
        assertEquals("request_too_large", declared.get("code").asText());
        HttpRequest chunked = HttpRequest.newBuilder(URI.create(keyed.url("/v1/experiments")))
                .header("Authorization", "Bearer sk-acme-1")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                .build();
        HttpResponse<String> streamed = HttpClient.newHttpClient().send(chunked, HttpResponse.BodyHandlers.ofString());
        assertTrue(error(streamed, 413).get("message").asText().startsWith("The request body is over 1024 bytes;"), streamed.body());
        String exactlyAtLimit = EXPERIMENT + " ".repeat(1024 - EXPERIMENT.length());
        assertEquals(200, post(keyed.url("/v1/experiments"), "sk-acme-1", exactlyAtLimit).statusCode());
        assertEquals(200, post(keyed.url("/v1/experiments"), "sk-admin-1", big).statusCode(), "ops has the default limit");
    }

    @Test
    void aKeyAtItsConcurrencyLimitGets429WithRetryAfterAndOtherKeysDoNot() {
        try (SlowRequest held = new SlowRequest(keyed, "POST", "/v1/experiments", "sk-acme-1", EXPERIMENT)) {
            awaitInFlight(keyed, "acme", 1);
            HttpResponse<String> refused = get(keyed.url("/v1/models"), "sk-acme-1");
            JsonNode e = error(refused, 429);
            assertEquals("1", refused.headers().firstValue("Retry-After").orElseThrow());
            assertEquals("rate_limit_exceeded", e.get("code").asText());
            assertEquals("Too many concurrent requests: this API key may have 1 in flight (limits.max_concurrent_requests in"
                    + " serve.yaml); retry after 1 s.", e.get("message").asText());
            assertEquals(200, get(keyed.url("/v1/models"), "sk-globex-1").statusCode());
            assertTrue(held.finish().startsWith("HTTP/1.1 200"), "the held request completes normally");
        }
        // the permit comes back before the client sees the answer: one request after another never hits the limit
        for (int i = 0; i < 20; i++) {
            int status = i % 2 == 0 ? get(keyed.url("/v1/models/nope"), "sk-acme-1").statusCode()
                    : post(keyed.url("/v1/experiments"), "sk-acme-1", "{not json").statusCode();
            assertEquals(i % 2 == 0 ? 404 : 400, status, "request " + i);
        }
        assertEquals(200, get(keyed.url("/v1/models"), "sk-acme-1").statusCode());
    }

    @Test
    void malformedRequestsAreAnsweredWithErrorsNeverA500() {
        String[] bodies = {"", "null", "[]", "{", "{\"name\": 5}", "{\"a\": NaN}", "{\"a\": 1e999999}", "[".repeat(3000),
                "{\"name\": \"x\", \"variants\": [{\"name\": \"a\", \"target\": \"base\", \"weight\": 1e999999}]}", "\u00ff\u00fe"};
        for (String body : bodies) {
            for (String path : new String[] {"/v1/experiments", "/v1/adapters", "/v1/experiments/ab/feedback"}) {
                HttpResponse<String> r = post(keyed.url(path), "sk-admin-1", body);
                assertTrue(r.statusCode() >= 400 && r.statusCode() < 500, path + " " + body + " -> " + r.statusCode() + " " + r.body());
                ServerModelsTest.errorOf(r.body());
            }
        }
        assertEquals(400, post(keyed.url("/v1/adapters"), "sk-admin-1", "{\"name\": \"x\", \"path\": \"a\\u0000b\"}").statusCode());
        error(get(keyed.url("/v1/models/%00"), "sk-admin-1"), 400); // refused by Jetty itself, in the same shape
        String malformed = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n");
        assertTrue(malformed.startsWith("HTTP/1.1 400"), malformed);
        ServerModelsTest.errorOf(malformed.substring(malformed.indexOf("\r\n\r\n") + 4));
        String hugeHeader = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "x".repeat(20_000) + "\r\n\r\n");
        assertTrue(hugeHeader.startsWith("HTTP/1.1 431"), hugeHeader);
        ServerModelsTest.errorOf(hugeHeader.substring(hugeHeader.indexOf("\r\n\r\n") + 4));
    }

    @Test
    void stoppingLetsTheRequestInFlightFinishAndRefusesNewOnes() throws Exception {
        ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("drain.db"));
        String health = r.url("/health");
        try (SlowRequest held = new SlowRequest(r, "POST", "/v1/experiments", "any", EXPERIMENT)) {
            awaitInFlight(r, Caller.ANONYMOUS, 1);
            Thread closer = new Thread(r.server()::close, "closer");
            closer.start();
            while (get(r.url("/health"), null).statusCode() != 503) {
                Thread.sleep(5);
            }
            assertEquals(Map.of("status", "draining"), ServeFixture.json(get(r.url("/health"), null).body()));
            HttpResponse<String> refused = get(r.url("/v1/models"), null);
            assertEquals("server_shutting_down", error(refused, 503).get("code").asText());
            assertTrue(closer.isAlive(), "close() waits for the request in flight");
            String answer = held.finish();
            assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            closer.join(30_000);
            assertFalse(closer.isAlive());
            assertThrows(UncheckedIOException.class, () -> get(health, null), "no longer listening");
        } finally {
            r.close();
        }
    }

    @Test
    void theServerIsBoundWhereItWasToldAndATakenPortIsOneLine() {
        int port = keyed.server().port();
        assertEquals(new InetSocketAddress("127.0.0.1", port), keyed.server().address());
        // its own engine: closing a server shuts its engine down
        try (BatchingEngine engine = BatchingEngine.start(fixture.dir.resolve(ServeFixture.BASE_ID), Device.CPU, null,
                EngineOptions.defaults().withMaxSequenceLength(64))) {
            Server second = new Server(new Server.Settings("127.0.0.1", port, Duration.ofSeconds(1)), engine, keyed.catalog(),
                    new ApiKeys(List.of(), RequestLimits.DEFAULT), keyed.log(), keyed.metrics());
            TailorException e = assertThrows(TailorException.class, second::start);
            assertTrue(e.getMessage().startsWith("cannot listen on 127.0.0.1:" + port + ": "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            second.close();
        }
    }

    /** Sends {@code request} as it is on a new connection; the response as text. */
    private static String raw(String request) {
        try (Socket socket = new Socket("127.0.0.1", keyed.server().port())) {
            socket.setSoTimeout(30_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void awaitInFlight(ServeFixture.Running r, String tenant, int count) {
        String line = "tailor_http_requests_in_flight{tenant=\"" + tenant + "\"} " + count + ".0";
        String admin = r == keyed ? "sk-admin-1" : null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!get(r.url("/metrics"), admin).body().lines().anyMatch(line::equals)) {
            assertTrue(System.nanoTime() < deadline, "the held request was never admitted");
            Thread.onSpinWait();
        }
    }

    /** A request sent by hand, its body cut short until {@link #finish}. */
    static final class SlowRequest implements AutoCloseable {
        private final Socket socket;
        private final byte[] body;

        SlowRequest(ServeFixture.Running r, String method, String path, String key, String body) {
            this.body = body.getBytes(StandardCharsets.UTF_8);
            try {
                socket = new Socket("127.0.0.1", r.server().port());
                socket.setSoTimeout(30_000);
                String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + this.body.length + "\r\nConnection: close\r\n\r\n";
                OutputStream out = socket.getOutputStream();
                out.write(head.getBytes(StandardCharsets.US_ASCII));
                out.write(this.body, 0, 1);
                out.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Sends the rest of the body; the whole response as text. */
        String finish() {
            try {
                OutputStream out = socket.getOutputStream();
                out.write(body, 1, body.length - 1);
                out.flush();
                InputStream in = socket.getInputStream();
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException e) {
                // the test is over either way
            }
        }
    }
}
