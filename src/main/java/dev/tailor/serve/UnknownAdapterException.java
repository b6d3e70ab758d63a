package dev.tailor.serve;

import dev.tailor.TailorException;

/** No adapter of that name is registered: an HTTP server answers 404 (model not found). */
public final class UnknownAdapterException extends TailorException {
    UnknownAdapterException(String message) {
        super(message);
    }
}
