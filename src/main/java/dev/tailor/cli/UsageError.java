package dev.tailor.cli;

/**
 * Exit code 2 with one "error: ..." line: how the data commands answer a usage error (a bad flag
 * value, a missing file, a model directory that cannot be read), apart from 1 for errors in the data.
 */
final class UsageError {
    static final int EXIT = 2;

    private UsageError() {}

    /** Prints the message and returns {@link #EXIT}. */
    static int report(String message) {
        System.err.println("error: " + message);
        System.err.flush();
        return EXIT;
    }
}
