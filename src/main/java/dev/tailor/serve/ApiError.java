package dev.tailor.serve;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An error answered as OpenAI answers it: the HTTP status and the body
 * {@code {"error": {"message", "type", "param", "code"}}}, so the official clients raise their
 * typed exceptions (BadRequestException for 400, NotFoundException for 404, ...) with the message.
 * Thrown anywhere a request is handled; the {@link Server} turns it into the response.
 *
 * @param retryAfterSeconds sent as {@code Retry-After} (429); null for other errors
 */
public final class ApiError extends RuntimeException {
    public static final String INVALID_REQUEST = "invalid_request_error";

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Integer retryAfterSeconds;

    public ApiError(int status, String type, String message, String param, String code, Integer retryAfterSeconds) {
        super(message, null, false, false); // an answer to a client, not a bug: no stack trace to fill
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: the request is malformed; {@code param} names the offending field (null when none does). */
    public static ApiError invalid(String message, String param) {
        return new ApiError(400, INVALID_REQUEST, message, param, null, null);
    }

    /** 400 with an OpenAI error code, e.g. "invalid_type". */
    public static ApiError invalid(String message, String param, String code) {
        return new ApiError(400, INVALID_REQUEST, message, param, code, null);
    }

    /** 401 without an API key, as OpenAI words it. */
    public static ApiError missingKey() {
        return new ApiError(401, INVALID_REQUEST, "You didn't provide an API key. Provide it in an Authorization header"
                + " using Bearer auth (Authorization: Bearer YOUR_KEY).", null, null, null);
    }

    /** 401 for a key that is not configured; only a hint of the key is echoed. */
    public static ApiError wrongKey(String key) {
        String hint = key.length() <= 8 ? "***" : key.substring(0, 3) + "***" + key.substring(key.length() - 4);
        return new ApiError(401, INVALID_REQUEST, "Incorrect API key provided: " + hint + ".", null, "invalid_api_key", null);
    }

    /**
     * 404 for a model that does not exist or that the caller's key may not use: the two look the
     * same, so a tenant never learns another tenant's adapter names.
     */
    public static ApiError modelNotFound(String model) {
        return new ApiError(404, INVALID_REQUEST, "The model '" + model + "' does not exist or you do not have access to it.",
                "model", "model_not_found", null);
    }

    /** 404 for something else that does not exist (or is not the caller's to see). */
    public static ApiError notFound(String message, String param) {
        return new ApiError(404, INVALID_REQUEST, message, param, "not_found", null);
    }

    /** 403 for endpoints that need an admin key (loading adapters, defining experiments, metrics). */
    public static ApiError adminOnly(String what) {
        return new ApiError(403, INVALID_REQUEST, what + " needs an API key with admin: true in serve.yaml.", null,
                "permission_denied", null);
    }

    /** 413: the body is larger than the key may send. */
    public static ApiError tooLarge(long bytes, long limit) {
        String size = bytes < 0 ? "over " + limit + " bytes" : bytes + " bytes";
        return new ApiError(413, INVALID_REQUEST, "The request body is " + size + "; this API key may send at most " + limit
                + " bytes (limits.max_request_bytes in serve.yaml).", null, "request_too_large", null);
    }

    /** 429: come back after {@code retryAfterSeconds}. */
    public static ApiError rateLimited(String message, int retryAfterSeconds) {
        return new ApiError(429, "requests", message, null, "rate_limit_exceeded", retryAfterSeconds);
    }

    /** 503 while the server drains its requests before stopping. */
    public static ApiError shuttingDown() {
        return new ApiError(503, "server_error", "The server is shutting down; retry on another replica or shortly.", null,
                "server_shutting_down", 1);
    }

    /** 500 for a fault of the server; the details stay in the server's log, never in the answer. */
    public static ApiError internal(String reference) {
        return new ApiError(500, "server_error", "The server had an error while processing your request (reference "
                + reference + ").", null, null, null);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    public Integer retryAfterSeconds() {
        return retryAfterSeconds;
    }

    /** The response body. */
    public Map<String, Object> toJson() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }
}
