package dev.tailor.serve;

import dev.tailor.TailorException;

/** The engine is shutting down or shut down and takes no more work: an HTTP server answers 503. */
public final class EngineClosedException extends TailorException {
    EngineClosedException(String message) {
        super(message);
    }
}
