package dev.tailor.serve;

/**
 * Who sent a request: the holder of an {@link ApiKey}, or anyone at all on a server without keys
 * (which listens on 127.0.0.1 only), who may use and manage everything.
 */
public record Caller(ApiKey key, RequestLimits limits) {
    /** The label of keyless callers in metrics and the concurrency limit. */
    public static final String ANONYMOUS = "anonymous";

    public static Caller anonymous(RequestLimits limits) {
        return new Caller(null, limits);
    }

    /** The key's tenant; null without keys (as the request log stores it). */
    public String tenant() {
        return key == null ? null : key.tenant();
    }

    /** What the concurrency limit counts per: each key on its own. */
    String identity() {
        return key == null ? ANONYMOUS : key.sha256();
    }

    public boolean admin() {
        return key == null || key.admin();
    }

    public boolean mayUseBase() {
        return key == null || key.base();
    }

    public boolean mayUseAdapter(String name) {
        return key == null || key.mayUseAdapter(name);
    }

    public boolean mayUseExperiment(String name) {
        return key == null || key.mayUseExperiment(name);
    }
}
