package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.models.Model;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /v1/models through the official OpenAI Java client: the base model, adapters with their parent
 * and experiments, exactly what each API key may use, and errors the client raises as its typed
 * exceptions.
 */
class ServerModelsTest {
    /** printf %s KEY | sha256sum, for sk-acme-1, sk-globex-1 and sk-admin-1. */
    static final String ACME_HASH = "819685611e044dc4918e558945f580790befd0786cc2fb36e3417477ed704a3d";
    static final String GLOBEX_HASH = "1877e953ed0fed17a7ae6d0c5600a90fd8d0797b1ac09ce2066d2451838a01e8";
    static final String ADMIN_HASH = "bddbad724b4d15ed933cc8341b9ba201267aeb75636705d524c0fcf383e75cb8";

    @TempDir
    static Path dir;
    static ServeFixture fixture;
    static ServeFixture.Running open;
    static ServeFixture.Running keyed;

    @BeforeAll
    static void start() throws Exception {
        fixture = new ServeFixture(dir);
        String served = "adapters:\n  support-v1: " + fixture.adapterA + "\n  ft:tiny:acme:legal:abc123: " + fixture.adapterB + "\n"
                + "experiments:\n  - {name: support-ab, variants: [{name: base, target: base, weight: 90},"
                + " {name: tuned, target: support-v1, weight: 10}]}\n";
        open = fixture.start(ServeConfig.parse(served, dir, "open.yaml"), dir.resolve("open.db"));
        keyed = fixture.start(ServeConfig.parse(served + """
                api_keys:
                  - {key_sha256: %s, tenant: acme, adapters: [support-v1], experiments: [support-ab]}
                  - {key_sha256: %s, tenant: globex, adapters: [ft:tiny:acme:legal:abc123], base: false}
                  - {key_sha256: %s, tenant: ops, adapters: "*", experiments: "*", admin: true}
                """.formatted(ACME_HASH, GLOBEX_HASH, ADMIN_HASH), dir, "keyed.yaml"), dir.resolve("keyed.db"));
    }

    @AfterAll
    static void stop() {
        keyed.close();
        open.close();
        fixture.close();
    }

    static OpenAIClient client(ServeFixture.Running r, String key) {
        return OpenAIOkHttpClient.builder().baseUrl(r.url("/v1")).apiKey(key).maxRetries(0).timeout(Duration.ofSeconds(30)).build();
    }

    private static List<String> ids(OpenAIClient client) {
        return client.models().list().data().stream().map(Model::id).toList();
    }

    private static String parent(Model m) {
        JsonValue parent = m._additionalProperties().get("parent");
        return parent == null ? null : parent.asStringOrThrow();
    }

    @Test
    void withoutKeysEveryModelIsListedAdaptersWithTheBaseAsParent() {
        OpenAIClient client = client(open, "anything");
        List<Model> models = client.models().list().data();
        assertEquals(List.of("tiny", "ft:tiny:acme:legal:abc123", "support-v1", "support-ab"), models.stream().map(Model::id).toList());
        assertEquals(java.util.Arrays.asList(null, "tiny", "tiny", null), models.stream().map(ServerModelsTest::parent).toList());
        for (Model m : models) {
            assertEquals("tailor", m.ownedBy());
            assertTrue(Math.abs(m.created() - System.currentTimeMillis() / 1000) < 3600, "created is epoch seconds: " + m.created());
        }
        Model adapter = client.models().retrieve("ft:tiny:acme:legal:abc123");
        assertEquals("tiny", parent(adapter));
        assertEquals("tiny", client.models().retrieve("base").id());
    }

    @Test
    void anUnknownModelIsTheClientsNotFoundException() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> client(open, "anything").models().retrieve("gpt-5"));
        assertEquals(404, e.statusCode());
        assertEquals("model_not_found", e.code().orElseThrow());
        assertEquals("model", e.param().orElseThrow());
        assertEquals("invalid_request_error", e.type().orElseThrow());
        assertEquals("The model 'gpt-5' does not exist or you do not have access to it.", message(e));
    }

    @Test
    void eachKeySeesOnlyWhatItMayUse() {
        assertEquals(List.of("tiny", "support-v1", "support-ab"), ids(client(keyed, "sk-acme-1")));
        assertEquals(List.of("ft:tiny:acme:legal:abc123"), ids(client(keyed, "sk-globex-1")));
        assertEquals(List.of("tiny", "ft:tiny:acme:legal:abc123", "support-v1", "support-ab"), ids(client(keyed, "sk-admin-1")));
    }

    @Test
    void anotherTenantsAdapterLooksExactlyLikeOneThatDoesNotExist() {
        OpenAIClient acme = client(keyed, "sk-acme-1");
        NotFoundException hidden = assertThrows(NotFoundException.class, () -> acme.models().retrieve("ft:tiny:acme:legal:abc123"));
        NotFoundException missing = assertThrows(NotFoundException.class, () -> acme.models().retrieve("ft:tiny:acme:legal:zzz999"));
        assertEquals(404, hidden.statusCode());
        assertEquals(message(missing).replace("zzz999", "abc123"), message(hidden));
        assertEquals(missing.code(), hidden.code());
        assertThrows(NotFoundException.class, () -> client(keyed, "sk-globex-1").models().retrieve("tiny"), "globex may not use the base");
        assertEquals("support-v1", acme.models().retrieve("support-v1").id());
    }

    @Test
    void aWrongKeyIsTheClientsUnauthorizedExceptionAndNoKeyIs401() {
        UnauthorizedException e = assertThrows(UnauthorizedException.class, () -> ids(client(keyed, "sk-acme-2")));
        assertEquals(401, e.statusCode());
        assertEquals("invalid_api_key", e.code().orElseThrow());
        assertEquals("Incorrect API key provided: sk-***me-2.", message(e));
        HttpResponse<String> none = ServeFixture.Http.get(keyed.url("/v1/models"), null);
        assertEquals(401, none.statusCode());
        Map<String, Object> error = errorOf(none.body());
        assertTrue(((String) error.get("message")).startsWith("You didn't provide an API key."), none.body());
        assertEquals(401, ServeFixture.Http.send("GET", keyed.url("/v1/models"), null, null).statusCode());
        assertFalse(none.body().contains("Exception"), none.body());
    }

    /** The error message the client read from the body's error object (its getMessage() is "STATUS: message"). */
    static String message(OpenAIServiceException e) {
        assertTrue(e.getMessage().startsWith(e.statusCode() + ": "), e.getMessage());
        return e.getMessage().substring((e.statusCode() + ": ").length());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> errorOf(String body) {
        Map<String, Object> json = ServeFixture.json(body);
        assertEquals(java.util.Set.of("error"), json.keySet(), body);
        Map<String, Object> error = (Map<String, Object>) json.get("error");
        assertEquals(java.util.Set.of("message", "type", "param", "code"), error.keySet(), body);
        return error;
    }
}
