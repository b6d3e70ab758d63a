package dev.tailor.serve;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Authentication: the {@code Authorization: Bearer KEY} header against the configured keys'
 * hashes. Without configured keys every request is an {@link Caller#anonymous anonymous} caller
 * with the default limits, whatever header it carries (the official clients always send one).
 */
public final class ApiKeys {
    private final Map<String, ApiKey> byHash = new HashMap<>();
    private final RequestLimits defaults;

    public ApiKeys(List<ApiKey> keys, RequestLimits defaults) {
        keys.forEach(k -> byHash.put(k.sha256(), k));
        this.defaults = defaults;
    }

    public boolean configured() {
        return !byHash.isEmpty();
    }

    /** The caller behind {@code authorization} (the header's value, null when absent); 401 otherwise. */
    public Caller authenticate(String authorization) {
        if (!configured()) {
            return Caller.anonymous(defaults);
        }
        String prefix = "bearer ";
        if (authorization == null || authorization.length() <= prefix.length()
                || !authorization.regionMatches(true, 0, prefix, 0, prefix.length())) {
            throw ApiError.missingKey();
        }
        String key = authorization.substring(prefix.length()).strip();
        ApiKey found = byHash.get(ApiKey.hash(key));
        if (found == null) {
            throw ApiError.wrongKey(key);
        }
        return new Caller(found, found.limits());
    }

    /** The largest body any caller may send: the server refuses larger ones before authentication matters. */
    public long largestRequestBytes() {
        return byHash.values().stream().mapToLong(k -> k.limits().maxRequestBytes()).max().orElse(defaults.maxRequestBytes());
    }
}
