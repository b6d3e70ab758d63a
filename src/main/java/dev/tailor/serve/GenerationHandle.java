package dev.tailor.serve;

import java.util.concurrent.CompletableFuture;

/** An accepted generation request: its result, and the way to cancel it (a client that went away). */
public final class GenerationHandle {
    private final long id;
    private final Runnable wakeScheduler;
    private final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
    private volatile boolean cancelled;

    GenerationHandle(long id, Runnable wakeScheduler) {
        this.id = id;
        this.wakeScheduler = wakeScheduler;
    }

    /** Unique within this engine, in order of submission. */
    public long id() {
        return id;
    }

    /**
     * Completes after the listener's last call, with the result (also when cancelled), or
     * exceptionally as {@link GenerationListener#onError} reports. Completed on the scheduler thread:
     * chain work on it with the *Async methods.
     */
    public CompletableFuture<GenerationResult> result() {
        return result.copy();
    }

    /**
     * Stops the generation at the next step (or before it starts) and frees its slot; it then
     * finishes with {@link FinishReason#CANCELLED}. No effect once it has finished.
     */
    public void cancel() {
        cancelled = true;
        wakeScheduler.run();
    }

    boolean isCancelled() {
        return cancelled;
    }

    void complete(GenerationResult r) {
        result.complete(r);
    }

    void fail(RuntimeException e) {
        result.completeExceptionally(e);
    }
}
