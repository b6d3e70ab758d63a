package dev.tailor;

/**
 * An error caused by the user's input (a file, a flag, a request), carrying a one-line message that
 * names what is wrong and how to fix it. The CLI prints only the message and exits non-zero; the
 * server answers 4xx. Programming errors stay ordinary exceptions with stack traces.
 */
public class TailorException extends RuntimeException {
    public TailorException(String message) {
        super(message);
    }

    public TailorException(String message, Throwable cause) {
        super(message, cause);
    }
}
