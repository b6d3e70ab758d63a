package dev.tailor.serve;

/**
 * What one API key may ask of the server (serve.yaml's {@code limits}, globally and per key).
 *
 * @param maxRequestBytes       larger bodies are refused with 413
 * @param maxTokens             the most tokens one choice may generate; null: up to the model's context
 * @param maxConcurrentRequests requests of the key in flight at once; one more is refused with 429
 */
public record RequestLimits(long maxRequestBytes, Integer maxTokens, int maxConcurrentRequests) {
    /** 2 MiB of JSON holds a prompt far beyond the models' contexts. */
    public static final RequestLimits DEFAULT = new RequestLimits(2L << 20, null, 64);

    public RequestLimits {
        if (maxRequestBytes < 1 || (maxTokens != null && maxTokens < 1) || maxConcurrentRequests < 1) {
            throw new IllegalArgumentException("limits are >= 1");
        }
    }

    /**
     * The generation budget of a request that did not set max_tokens: the room left in the
     * context, capped by this key's {@code maxTokens}.
     */
    public int defaultMaxTokens(int contextRoom) {
        return maxTokens == null ? contextRoom : Math.min(contextRoom, maxTokens);
    }
}
