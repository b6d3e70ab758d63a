package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** serve.yaml: every section read as written, every mistake one line naming the file and the field. */
class ServeConfigTest {
    private static final Path BASE = Path.of("/srv/tailor");
    /** printf %s sk-acme-1 | sha256sum */
    static final String ACME_HASH = "819685611e044dc4918e558945f580790befd0786cc2fb36e3417477ed704a3d";

    static ServeConfig parse(String yaml) {
        return ServeConfig.parse(yaml, BASE, "serve.yaml");
    }

    @Test
    void everySectionIsRead() {
        ServeConfig c = parse("""
                limits:
                  max_request_bytes: 4096
                  max_tokens: 512
                api_keys:
                  - key_sha256: 819685611E044DC4918E558945F580790BEFD0786CC2FB36E3417477ED704A3D
                    tenant: acme
                    adapters: [support-v1, ft:tiny:acme:support:abc123]
                    experiments: "*"
                    limits: {max_concurrent_requests: 2, max_tokens: 64}
                  - key_sha256: bddbad724b4d15ed933cc8341b9ba201267aeb75636705d524c0fcf383e75cb8
                    tenant: ops
                    base: false
                    admin: true
                adapters:
                  support-v1: runs/support-v1
                  legal: /models/legal
                experiments:
                  - name: support-ab
                    variants:
                      - {name: base, target: base, weight: 90}
                      - {name: tuned, target: support-v1, weight: 10}
                database: jdbc:postgresql://db/tailor?user=t&password=p
                """);
        assertEquals(new RequestLimits(4096, 512, 64), c.limits());
        assertEquals(List.of(
                new ApiKey("acme", ACME_HASH, Set.of("support-v1", "ft:tiny:acme:support:abc123"), Set.of("*"), true, false,
                        new RequestLimits(4096, 64, 2)),
                new ApiKey("ops", "bddbad724b4d15ed933cc8341b9ba201267aeb75636705d524c0fcf383e75cb8", Set.of(), Set.of(), false, true,
                        new RequestLimits(4096, 512, 64))), c.apiKeys());
        assertEquals(Map.of("support-v1", Path.of("/srv/tailor/runs/support-v1"), "legal", Path.of("/models/legal")), c.adapters());
        assertEquals(1, c.experiments().size());
        assertEquals("tuned", c.experiments().get(0).variant("tuned").name());
        assertEquals("jdbc:postgresql://db/tailor?user=t&password=p", c.database());
        assertEquals("/srv/tailor/data/requests.db", parse("database: data/requests.db").database());
        assertEquals(ServeConfig.NONE, parse(""));
        assertEquals(ServeConfig.NONE, parse("# nothing yet\n"));
    }

    @Test
    void aKeyIsStoredAsTheSha256ThatSha256sumPrints() {
        assertEquals(ACME_HASH, ApiKey.hash("sk-acme-1"));
    }

    static Stream<Arguments> mistakes() {
        String key = "api_keys:\n  - key_sha256: " + ACME_HASH + "\n    tenant: acme\n";
        return Stream.of(
                bad("port: 8000", "serve.yaml: port: unknown key; allowed: adapters, api_keys, database, experiments, limits"),
                bad("- a\n- b", "serve.yaml: the file: must be a mapping with limits, api_keys, adapters, experiments and database"),
                bad("limits: {max_tokens: 0}", "serve.yaml: limits.max_tokens: must be a whole number from 1 to 2147483647, got 0"),
                bad("limits: {max_request_bytes: 1.5}", "serve.yaml: limits.max_request_bytes: must be a whole number from 1 to 2147483647, got 1.5"),
                bad("limits: {max_concurrency: 3}", "serve.yaml: limits.max_concurrency: unknown key; allowed: max_concurrent_requests,"
                        + " max_request_bytes, max_tokens"),
                bad("api_keys: {tenant: acme}", "serve.yaml: api_keys: must be a list of keys (key_sha256, tenant, adapters, ...)"),
                bad("api_keys:\n  - key_sha256: sk-acme-1\n    tenant: acme",
                        "serve.yaml: api_keys[0].key_sha256: must be the 64 hex digits of the key's SHA-256 (tailor serve hash-key,"
                                + " or printf %s \"$KEY\" | sha256sum), never the key itself"),
                bad("api_keys:\n  - tenant: acme", "serve.yaml: api_keys[0].key_sha256: missing; give a string"),
                bad("api_keys:\n  - key_sha256: " + ACME_HASH, "serve.yaml: api_keys[0].tenant: missing; give a string"),
                bad(key + "  - key_sha256: " + ACME_HASH.toUpperCase() + "\n    tenant: globex",
                        "serve.yaml: api_keys[1].key_sha256: the same key is listed twice; each key belongs to one tenant"),
                bad(key + "    admin: yes please", "serve.yaml: api_keys[0].admin: must be true or false, got \"yes please\""),
                bad(key + "    adapters: support-v1", "serve.yaml: api_keys[0].adapters: must be a list of names, or \"*\" for all"),
                bad(key + "    limits: {max_concurrent_requests: -1}",
                        "serve.yaml: api_keys[0].limits.max_concurrent_requests: must be a whole number from 1 to 100000, got -1"),
                bad(key + "    key: sk-acme-1", "serve.yaml: api_keys[0].key: unknown key; allowed: adapters, admin, base, experiments,"
                        + " key_sha256, limits, tenant"),
                bad("api_keys:\n  - key_sha256: " + ACME_HASH + "\n    tenant: acme corp",
                        "serve.yaml: api_keys[0].tenant: 'acme corp' must be 1 to 64 letters, digits, '.', '_' or '-'"),
                bad("adapters: [a, b]", "serve.yaml: adapters: must be a mapping of adapter names to directories (support-v1: runs/support-v1)"),
                bad("adapters:\n  a b: dir", "serve.yaml: adapters.a b: an adapter name is 1 to 128 letters, digits, '.', '_', ':' or '-',"
                        + " starting with a letter or digit"),
                bad("adapters:\n  a: {path: x}", "serve.yaml: adapters.a: missing; give a string"),
                bad("experiments:\n  - name: ab\n    variants: [{name: x, target: base, weight: -1}]",
                        "serve.yaml: experiments[0]: variants[0].weight: must be a number > 0 (a relative share such as 90 or 0.1), got -1"),
                bad("experiments:\n  - {name: ab, variants: [{name: x, target: base, weight: 1}]}\n"
                        + "  - {name: ab, variants: [{name: y, target: base, weight: 1}]}", "serve.yaml: experiments[1].name: 'ab' is defined twice"),
                bad("experiments: {name: ab}", "serve.yaml: experiments: must be a list of experiments (name, variants, ...)"),
                bad("database: [x]", "serve.yaml: database: missing; give a string"),
                bad("limits:\n  max_tokens: 5\n  max_tokens: 6", "serve.yaml: not valid YAML at line 3: Duplicate field 'max_tokens'"),
                bad("limits: {max_tokens: 5", "serve.yaml: not valid YAML at line 1: "));
    }

    private static Arguments bad(String yaml, String message) {
        return Arguments.of(yaml, message);
    }

    @ParameterizedTest
    @MethodSource("mistakes")
    void eachMistakeIsOneLineNamingTheField(String yaml, String message) {
        TailorException e = assertThrows(TailorException.class, () -> parse(yaml));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        if (message.endsWith(": ")) {
            assertEquals(message, e.getMessage().substring(0, message.length()));
        } else {
            assertEquals(message, e.getMessage());
        }
    }

    @Test
    void aMissingFileIsNamed() {
        TailorException e = assertThrows(TailorException.class, () -> ServeConfig.load(Path.of("/nonexistent/serve.yaml")));
        assertEquals("/nonexistent/serve.yaml: file not found", e.getMessage());
    }
}
