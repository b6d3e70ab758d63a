package dev.tailor.serve;

import dev.tailor.TailorException;

/** The engine holds as many requests as it may (running + waiting): an HTTP server answers 429 with Retry-After. */
public final class EngineOverloadedException extends TailorException {
    private final int retryAfterSeconds;

    EngineOverloadedException(String message, int retryAfterSeconds) {
        super(message);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** A hint for the Retry-After header. */
    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
