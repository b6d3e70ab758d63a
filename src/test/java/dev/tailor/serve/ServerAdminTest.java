package dev.tailor.serve;

import static dev.tailor.serve.ServeFixture.Http.get;
import static dev.tailor.serve.ServeFixture.Http.post;
import static dev.tailor.serve.ServeFixture.Http.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Managing what is served, over plain HTTP: adapters loaded and unloaded at run time (a bad one
 * refused with 400 and nothing changed), experiments defined at run time, feedback and results
 * through the request log, and which keys may do what.
 */
class ServerAdminTest {
    @TempDir
    static Path dir;
    static ServeFixture fixture;

    @BeforeAll
    static void create() throws Exception {
        fixture = new ServeFixture(dir);
    }

    @AfterAll
    static void close() {
        fixture.close();
    }

    private static JsonNode json(HttpResponse<String> r, int status) {
        assertEquals(status, r.statusCode(), r.body());
        return ServeFixture.readTree(r.body());
    }

    private static List<String> modelIds(ServeFixture.Running r, String key) {
        JsonNode data = json(get(r.url("/v1/models"), key), 200).get("data");
        return java.util.stream.StreamSupport.stream(data.spliterator(), false).map(m -> m.get("id").asText()).toList();
    }

    private static String adapterBody(String name, Path path) {
        return "{\"name\": \"" + name + "\", \"path\": \"" + path + "\"}";
    }

    @Test
    void adaptersAreLoadedAndUnloadedAndABadOneChangesNothing() {
        try (ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("adapters.db"))) {
            JsonNode loaded = json(post(r.url("/v1/adapters"), null, adapterBody("support-v1", fixture.adapterA)), 200);
            assertEquals("support-v1", loaded.get("id").asText());
            assertEquals("tiny", loaded.get("parent").asText());
            assertEquals(4, loaded.get("rank").asInt());
            assertEquals(List.of("tiny", "support-v1"), modelIds(r, null));

            JsonNode error = json(post(r.url("/v1/adapters"), null, adapterBody("legal", fixture.mismatchedAdapter)), 400).get("error");
            assertEquals("adapter 'legal' is refused: " + fixture.mismatchedAdapter.resolve("adapter_model.safetensors") + ": base_model.model.model.layers.0.mlp.down_proj"
                    + ".lora_A.weight has rank 4 but adapter_config.json says r=8; the config does not belong to these weights",
                    error.get("message").asText());
            assertEquals("invalid_request_error", error.get("type").asText());
            assertTrue(json(post(r.url("/v1/adapters"), null, adapterBody("legal", dir.resolve("missing"))), 400)
                    .at("/error/message").asText().contains("no adapter_config.json"));
            assertEquals("adapter 'support-v1' is already loaded; unload it first to replace it",
                    json(post(r.url("/v1/adapters"), null, adapterBody("support-v1", fixture.adapterB)), 400).at("/error/message").asText());
            assertEquals("adapter name 'base' is already the name of the base model; choose another",
                    json(post(r.url("/v1/adapters"), null, adapterBody("base", fixture.adapterB)), 400).at("/error/message").asText());
            assertEquals("path", json(post(r.url("/v1/adapters"), null, "{\"name\": \"x\"}"), 400).at("/error/param").asText());
            assertEquals("Unrecognized request argument supplied: alias", json(post(r.url("/v1/adapters"), null,
                    "{\"name\": \"x\", \"path\": \"/x\", \"alias\": \"y\"}"), 400).at("/error/message").asText());
            assertEquals(List.of("tiny", "support-v1"), modelIds(r, null), "a refused adapter leaves the served ones as they were");
            assertEquals(1, json(get(r.url("/v1/adapters"), null), 200).get("data").size());

            JsonNode deleted = json(send("DELETE", r.url("/v1/adapters/support-v1"), null, null), 200);
            assertEquals("{\"id\":\"support-v1\",\"object\":\"adapter\",\"deleted\":true}", deleted.toString());
            assertEquals(List.of("tiny"), modelIds(r, null));
            assertEquals("The adapter 'support-v1' is not loaded.",
                    json(send("DELETE", r.url("/v1/adapters/support-v1"), null, null), 404).at("/error/message").asText());
            json(post(r.url("/v1/adapters"), null, adapterBody("support-v1", fixture.adapterB)), 200); // the name is free again
            assertEquals(8, json(get(r.url("/v1/adapters"), null), 200).at("/data/0/rank").asInt());
        }
    }

    @Test
    void experimentsAreDefinedAtRunTimeAndProtectTheirTargets() {
        ServeConfig config = ServeConfig.parse("adapters: {support-v1: " + fixture.adapterA + "}", dir, "serve.yaml");
        try (ServeFixture.Running r = fixture.start(config, dir.resolve("experiments.db"))) {
            String ab = """
                    {
                      "name": "support-ab",
                      "variants": [
                        {"name": "base", "target": "base", "weight": 90},
                        {"name": "tuned", "target": "support-v1", "weight": 10}
                      ]
                    }""";
            JsonNode defined = json(post(r.url("/v1/experiments"), null, ab), 200);
            assertEquals("experiment", defined.get("object").asText());
            assertEquals("running", defined.get("status").asText());
            assertEquals(0.1, defined.at("/shares/tuned").asDouble(), 1e-12);
            assertEquals(List.of("tiny", "support-v1", "support-ab"), modelIds(r, null));

            assertEquals("experiment: variants[1].weight: must be a number > 0 (a relative share such as 90 or 0.1), got \"ten\"",
                    json(post(r.url("/v1/experiments"), null, ab.replace("\"weight\": 10", "\"weight\": \"ten\"")), 400)
                            .at("/error/message").asText());
            assertTrue(json(post(r.url("/v1/experiments"), null, ab.replace("\"target\": \"support-v1\"", "\"target\": \"legal\"")), 400)
                    .at("/error/message").asText().contains("target 'legal' is not served"));
            assertTrue(json(post(r.url("/v1/experiments"), null, ab.replace("\"name\": \"support-ab\"", "\"name\": \"support-v1\"")), 400)
                    .at("/error/message").asText().contains("its name is already a model's"));
            assertEquals("adapter 'support-v1' is a target of experiment 'support-ab' (variant 'tuned'); redefine the experiment without it first",
                    json(send("DELETE", r.url("/v1/adapters/support-v1"), null, null), 400).at("/error/message").asText());

            JsonNode stopped = json(post(r.url("/v1/experiments"), null, ab.replace("\"variants\"", "\"winner\": \"tuned\", \"variants\"")), 200);
            assertEquals("stopped", stopped.get("status").asText());
            assertEquals(defined.get("created"), stopped.get("created"), "redefining keeps the experiment's creation time");
            assertEquals("stopped", json(get(r.url("/v1/experiments/support-ab"), null), 200).get("status").asText());
            ModelRoute route = r.catalog().resolve(Caller.anonymous(RequestLimits.DEFAULT), "support-ab", "anyone", Instant.now());
            assertEquals("support-v1", route.target());
            assertEquals("tuned", route.variant().name());
        }
    }

    @Test
    void onlyAdminKeysManageAndEachTenantRatesOnlyItsOwnResponses() {
        ServeConfig config = ServeConfig.parse("""
                adapters: {support-v1: %s}
                experiments:
                  - {name: support-ab, variants: [{name: base, target: base, weight: 1}, {name: tuned, target: support-v1, weight: 1}]}
                api_keys:
                  - {key_sha256: %s, tenant: acme, adapters: [support-v1], experiments: [support-ab]}
                  - {key_sha256: %s, tenant: globex, experiments: [support-ab]}
                  - {key_sha256: %s, tenant: ops, admin: true}
                """.formatted(fixture.adapterA, ServerModelsTest.ACME_HASH, ServerModelsTest.GLOBEX_HASH, ServerModelsTest.ADMIN_HASH),
                dir, "serve.yaml");
        Path logFile = dir.resolve("feedback.db");
        try (ServeFixture.Running r = fixture.start(config, logFile)) {
            for (String[] call : new String[][] {{"POST", "/v1/adapters", "Loading adapters"}, {"GET", "/v1/adapters", "Listing adapters"},
                    {"DELETE", "/v1/adapters/support-v1", "Unloading adapters"}, {"POST", "/v1/experiments", "Defining experiments"}}) {
                JsonNode error = json(send(call[0], r.url(call[1]), "sk-acme-1", call[0].equals("POST") ? "{}" : null), 403).get("error");
                assertEquals(call[2] + " needs an API key with admin: true in serve.yaml.", error.get("message").asText());
                assertEquals("permission_denied", error.get("code").asText());
            }
            assertEquals(401, post(r.url("/v1/adapters"), null, adapterBody("x", fixture.adapterB)).statusCode());
            json(post(r.url("/v1/adapters"), "sk-admin-1", adapterBody("legal-v1", fixture.adapterB)), 200);
            assertEquals(List.of("tiny", "support-v1", "support-ab"), modelIds(r, "sk-acme-1"), "acme was not granted legal-v1");

            // what the generation endpoints will log: acme's two responses per variant, and one of globex
            log(r, "chatcmpl-b1", "acme", "base", 100);
            log(r, "chatcmpl-b2", "acme", "base", 300);
            log(r, "chatcmpl-t1", "acme", "tuned", 200);
            log(r, "chatcmpl-t2", "acme", "tuned", 400);
            log(r, "chatcmpl-g1", "globex", "base", 500);
            double[][] scores = {{0.2, 0.6}, {0.9, 0.7}};
            String[][] ids = {{"chatcmpl-b1", "chatcmpl-b2"}, {"chatcmpl-t1", "chatcmpl-t2"}};
            for (int v = 0; v < 2; v++) {
                for (int i = 0; i < 2; i++) {
                    JsonNode ok = json(post(r.url("/v1/experiments/support-ab/feedback"), "sk-acme-1",
                            "{\"response_id\": \"" + ids[v][i] + "\", \"score\": " + scores[v][i] + "}"), 200);
                    assertEquals(scores[v][i], ok.get("score").asDouble());
                }
            }
            json(post(r.url("/v1/experiments/support-ab/feedback"), "sk-globex-1", "{\"response_id\": \"chatcmpl-g1\", \"thumbs\": \"up\"}"), 200);
            JsonNode foreign = json(post(r.url("/v1/experiments/support-ab/feedback"), "sk-acme-1",
                    "{\"response_id\": \"chatcmpl-g1\", \"score\": 0}"), 400).get("error");
            JsonNode unknown = json(post(r.url("/v1/experiments/support-ab/feedback"), "sk-acme-1",
                    "{\"response_id\": \"chatcmpl-zz\", \"score\": 0}"), 400).get("error");
            assertEquals(unknown.get("message").asText().replace("chatcmpl-zz", "chatcmpl-g1"), foreign.get("message").asText(),
                    "another tenant's response looks like an unknown one");
            assertEquals("response_id", foreign.get("param").asText());
            assertEquals(404, post(r.url("/v1/experiments/other/feedback"), "sk-acme-1", "{}").statusCode());

            JsonNode results = json(get(r.url("/v1/experiments/support-ab/results"), "sk-acme-1"), 200);
            checkResults(results);
            assertEquals(404, get(r.url("/v1/experiments/support-ab/results"), "sk-admin-1").statusCode(),
                    "ops is an admin but was not granted the experiment");
        }
        try (ServeFixture.Running restarted = fixture.start(config, logFile)) {
            checkResults(json(get(restarted.url("/v1/experiments/support-ab/results"), "sk-globex-1"), 200));
        }
    }

    /** Hand-computed: base has latencies 100, 300, 500 ms and scores 0.2, 0.6, 1 (globex's thumbs up); tuned 200, 400 ms and 0.9, 0.7. */
    private static void checkResults(JsonNode results) {
        assertEquals("support-ab", results.get("experiment").asText());
        JsonNode base = results.at("/variants/0");
        JsonNode tuned = results.at("/variants/1");
        assertEquals("base", base.get("name").asText());
        assertEquals(3, base.get("requests").asInt());
        assertEquals(300.0, base.get("mean_latency_ms").asDouble(), 1e-9);
        assertEquals(3, base.at("/feedback/count").asInt());
        assertEquals(0.6, base.at("/feedback/mean").asDouble(), 1e-12);
        assertEquals(2, tuned.get("requests").asInt());
        assertEquals(300.0, tuned.get("mean_latency_ms").asDouble(), 1e-9);
        assertEquals(0.8, tuned.at("/feedback/mean").asDouble(), 1e-12);
        // mean 0.8, sd sqrt(0.02), t(1 df, 0.975) = 12.7062047361747
        double half = 12.7062047361747 * Math.sqrt(0.02 / 2);
        assertEquals(0.8 - half, tuned.at("/feedback/ci95/0").asDouble(), 1e-9);
        assertEquals("tuned", results.at("/comparisons/0/variant").asText());
    }

    private static void log(ServeFixture.Running r, String id, String tenant, String variant, double latencyMs) {
        String target = variant.equals("base") ? "base" : "support-v1";
        r.log().log(new LoggedRequest(id, Instant.now(), tenant, "support-ab", target, "support-ab", variant, "u-" + id,
                "[{\"role\":\"user\",\"content\":\"hi\"}]", "hello", latencyMs, 10.0, 5, 3, LoggedRequest.Status.OK));
    }

    @Test
    void unknownRoutesAndMethodsAreOpenAiErrors() {
        try (ServeFixture.Running r = fixture.start(ServeConfig.NONE, dir.resolve("routes.db"))) {
            HttpResponse<String> missing = get(r.url("/v1/chat/completions"), null);
            assertEquals(404, missing.statusCode());
            assertEquals(Map.of("message", "Invalid URL (GET /v1/chat/completions)", "type", "invalid_request_error"),
                    Map.of("message", ServerModelsTest.errorOf(missing.body()).get("message"),
                            "type", ServerModelsTest.errorOf(missing.body()).get("type")));
            assertEquals(404, send("PUT", r.url("/v1/models"), null, "{}").statusCode());
            assertEquals(404, get(r.url("/nothing"), null).statusCode());
        }
    }
}
