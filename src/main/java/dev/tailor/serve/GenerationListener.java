package dev.tailor.serve;

/**
 * Receives one request's tokens as they are generated, then exactly one of {@link #onFinish} or
 * {@link #onError}. Called on the engine's scheduler thread between steps: return quickly and never
 * block (hand the data to another thread), or every running request waits. A listener that throws
 * cancels its own request.
 */
public interface GenerationListener {
    void onToken(GeneratedToken token);

    /** The request ended normally or was cancelled ({@link FinishReason#CANCELLED}). */
    void onFinish(GenerationResult result);

    /**
     * The request failed: its adapter could not be loaded any more (files changed after it was
     * registered; a {@link dev.tailor.TailorException}), or the engine itself failed.
     */
    void onError(RuntimeException error);
}
