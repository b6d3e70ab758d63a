package dev.tailor.serve;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * serve.yaml, the server's configuration (every section optional):
 * <pre>
 * limits:                           # defaults for every key (and for a server without keys)
 *   max_request_bytes: 2097152      # larger bodies: 413
 *   max_tokens: 4096                # larger max_tokens: 400; also caps requests that set none
 *   max_concurrent_requests: 64     # one more in flight: 429 with Retry-After
 * api_keys:
 *   - key_sha256: 5e884898da28...   # printf %s "$KEY" | sha256sum, or tailor serve hash-key
 *     tenant: acme
 *     adapters: [support-v1]        # names it may use, loaded now or later; "*" for all
 *     experiments: [support-ab]     # likewise
 *     base: true                    # may use the base model (default true)
 *     admin: false                  # may load adapters, define experiments, read /metrics
 *     limits: {max_concurrent_requests: 4}   # this key's own, over the defaults above
 * adapters:                         # served from the start; paths relative to this file
 *   support-v1: runs/support-v1
 * experiments:                      # the Experiment shape (see Experiment)
 *   - {name: support-ab, variants: [{name: base, target: base, weight: 90}, {name: tuned, target: support-v1, weight: 10}]}
 * database: requests.db             # SQLite file (relative to this file) or a JDBC URL (jdbc:postgresql://...)
 * </pre>
 * Errors are one line that names the file and the field.
 *
 * @param database null: the SQLite file under the data directory; else an absolute path or a JDBC URL
 */
public record ServeConfig(RequestLimits limits, List<ApiKey> apiKeys, Map<String, Path> adapters,
                          List<Experiment> experiments, String database) {
    /** No file: no keys, no adapters or experiments beyond the command line's, default limits. */
    public static final ServeConfig NONE = new ServeConfig(RequestLimits.DEFAULT, List.of(), Map.of(), List.of(), null);

    /** Adapter names go into URLs, model ids and metrics labels: keep them plain (ft:base:org:suffix:id fits). */
    public static final Pattern ADAPTER_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final Pattern TENANT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION));
    private static final Set<String> KEYS = Set.of("limits", "api_keys", "adapters", "experiments", "database");
    private static final Set<String> KEY_KEYS = Set.of("key_sha256", "tenant", "adapters", "experiments", "base", "admin", "limits");
    private static final Set<String> LIMIT_KEYS = Set.of("max_request_bytes", "max_tokens", "max_concurrent_requests");

    public ServeConfig {
        apiKeys = List.copyOf(apiKeys);
        adapters = Map.copyOf(adapters);
        experiments = List.copyOf(experiments);
    }

    public static ServeConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new TailorException(file + ": file not found");
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage());
        }
        return parse(text, file.toAbsolutePath().getParent(), file.toString());
    }

    /** @param baseDir where relative paths (adapters, database) are resolved */
    public static ServeConfig parse(String yaml, Path baseDir, String source) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            String line = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr();
            throw new TailorException(source + ": not valid YAML" + line + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            return NONE;
        }
        return new Parser(source, baseDir).config(root);
    }

    /** Reads each section, every error naming {@code source} and the field. */
    private static final class Parser extends ConfigReader {
        private final Path baseDir;

        Parser(String source, Path baseDir) {
            super(source);
            this.baseDir = baseDir;
        }

        ServeConfig config(JsonNode root) {
            requireObject(root, "the file", "a mapping with limits, api_keys, adapters, experiments and database");
            checkKeys(root, KEYS, "");
            RequestLimits limits = limits(root.get("limits"), "limits", RequestLimits.DEFAULT);
            return new ServeConfig(limits, apiKeys(root.get("api_keys"), limits), adapters(root.get("adapters")),
                    experiments(root.get("experiments")), database(root.get("database")));
        }

        private RequestLimits limits(JsonNode node, String field, RequestLimits defaults) {
            if (node == null || node.isNull()) {
                return defaults;
            }
            requireObject(node, field, "a mapping with " + String.join(", ", sorted(LIMIT_KEYS)));
            checkKeys(node, LIMIT_KEYS, field + ".");
            long bytes = node.has("max_request_bytes") ? positive(node.get("max_request_bytes"), field + ".max_request_bytes", Integer.MAX_VALUE)
                    : defaults.maxRequestBytes();
            Integer tokens = node.has("max_tokens") ? Integer.valueOf((int) positive(node.get("max_tokens"), field + ".max_tokens", Integer.MAX_VALUE))
                    : defaults.maxTokens();
            int concurrent = node.has("max_concurrent_requests")
                    ? (int) positive(node.get("max_concurrent_requests"), field + ".max_concurrent_requests", 100_000)
                    : defaults.maxConcurrentRequests();
            return new RequestLimits(bytes, tokens, concurrent);
        }

        private List<ApiKey> apiKeys(JsonNode node, RequestLimits defaults) {
            List<ApiKey> keys = new ArrayList<>();
            if (node == null || node.isNull()) {
                return keys;
            }
            if (!node.isArray()) {
                throw error("api_keys: must be a list of keys (key_sha256, tenant, adapters, ...)");
            }
            Set<String> hashes = new HashSet<>();
            for (int i = 0; i < node.size(); i++) {
                String field = "api_keys[" + i + "]";
                JsonNode k = node.get(i);
                requireObject(k, field, "a mapping with key_sha256 and tenant");
                checkKeys(k, KEY_KEYS, field + ".");
                String hash = text(k.get("key_sha256"), field + ".key_sha256");
                if (!SHA256.matcher(hash).matches()) {
                    throw error(field + ".key_sha256: must be the 64 hex digits of the key's SHA-256 (tailor serve hash-key,"
                            + " or printf %s \"$KEY\" | sha256sum), never the key itself");
                }
                hash = hash.toLowerCase(Locale.ROOT);
                if (!hashes.add(hash)) {
                    throw error(field + ".key_sha256: the same key is listed twice; each key belongs to one tenant");
                }
                String tenant = text(k.get("tenant"), field + ".tenant");
                if (!TENANT.matcher(tenant).matches()) {
                    throw error(field + ".tenant: '" + tenant + "' must be 1 to 64 letters, digits, '.', '_' or '-'");
                }
                keys.add(new ApiKey(tenant, hash, names(k.get("adapters"), field + ".adapters"),
                        names(k.get("experiments"), field + ".experiments"), flag(k.get("base"), field + ".base", true),
                        flag(k.get("admin"), field + ".admin", false), limits(k.get("limits"), field + ".limits", defaults)));
            }
            return keys;
        }

        /** A list of names, or "*" (alone or in the list) for all. */
        private Set<String> names(JsonNode node, String field) {
            Set<String> out = new HashSet<>();
            if (node == null || node.isNull()) {
                return out;
            }
            if (node.isTextual() && node.asText().equals(ApiKey.ALL)) {
                return Set.of(ApiKey.ALL);
            }
            if (!node.isArray()) {
                throw error(field + ": must be a list of names, or \"*\" for all");
            }
            for (int i = 0; i < node.size(); i++) {
                out.add(text(node.get(i), field + "[" + i + "]"));
            }
            return out;
        }

        private Map<String, Path> adapters(JsonNode node) {
            Map<String, Path> out = new LinkedHashMap<>();
            if (node == null || node.isNull()) {
                return out;
            }
            requireObject(node, "adapters", "a mapping of adapter names to directories (support-v1: runs/support-v1)");
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!ADAPTER_NAME.matcher(e.getKey()).matches()) {
                    throw error("adapters." + e.getKey() + ": an adapter name is 1 to 128 letters, digits, '.', '_', ':' or '-',"
                            + " starting with a letter or digit");
                }
                out.put(e.getKey(), baseDir.resolve(text(e.getValue(), "adapters." + e.getKey())).normalize());
            }
            return out;
        }

        private List<Experiment> experiments(JsonNode node) {
            List<Experiment> out = new ArrayList<>();
            if (node == null || node.isNull()) {
                return out;
            }
            if (!node.isArray()) {
                throw error("experiments: must be a list of experiments (name, variants, ...)");
            }
            Set<String> names = new HashSet<>();
            for (int i = 0; i < node.size(); i++) {
                Experiment e = Experiment.fromJson(node.get(i), source + ": experiments[" + i + "]");
                if (!names.add(e.name())) {
                    throw error("experiments[" + i + "].name: '" + e.name() + "' is defined twice");
                }
                out.add(e);
            }
            return out;
        }

        private String database(JsonNode node) {
            if (node == null || node.isNull()) {
                return null;
            }
            String value = text(node, "database");
            return value.startsWith("jdbc:") ? value : baseDir.resolve(value).normalize().toString();
        }

        private long positive(JsonNode node, String field, long max) {
            if (node == null || !node.isIntegralNumber() || node.longValue() < 1 || node.longValue() > max) {
                throw error(field + ": must be a whole number from 1 to " + max + ", got " + (node == null ? "nothing" : node.toString()));
            }
            return node.longValue();
        }

        private boolean flag(JsonNode node, String field, boolean absent) {
            if (node == null || node.isNull()) {
                return absent;
            }
            if (!node.isBoolean()) {
                throw error(field + ": must be true or false, got " + node);
            }
            return node.booleanValue();
        }
    }
}
