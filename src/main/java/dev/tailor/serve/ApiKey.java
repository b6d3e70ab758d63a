package dev.tailor.serve;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;

/**
 * One API key of serve.yaml, stored as the SHA-256 of the key (never the key itself), bound to a
 * tenant and to what it may use. Adapters and experiments are granted by name, so a key may name
 * an adapter that is loaded later; {@code "*"} grants every one.
 *
 * @param sha256      lowercase hex SHA-256 of the key's UTF-8 bytes ({@link #hash})
 * @param base        whether the key may use the base model itself
 * @param admin       whether the key may load adapters, define experiments and read /metrics
 */
public record ApiKey(String tenant, String sha256, Set<String> adapters, Set<String> experiments, boolean base,
                     boolean admin, RequestLimits limits) {
    /** Grants every adapter or every experiment. */
    public static final String ALL = "*";

    public ApiKey {
        adapters = Set.copyOf(adapters);
        experiments = Set.copyOf(experiments);
    }

    /** The stored form of a key: {@code printf %s "$KEY" | sha256sum} computes the same. */
    public static String hash(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    public boolean mayUseAdapter(String name) {
        return adapters.contains(ALL) || adapters.contains(name);
    }

    public boolean mayUseExperiment(String name) {
        return experiments.contains(ALL) || experiments.contains(name);
    }
}
