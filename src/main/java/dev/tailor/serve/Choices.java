package dev.tailor.serve;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The generations of one HTTP request (n per prompt), submitted to the engine together. Their
 * listeners run on the engine's scheduler thread and only queue what happened ({@link #next}
 * hands it to the HTTP thread) and note timings: they never block it.
 */
final class Choices {
    /** What the engine reported for choice {@code index}: a token, the end, or a failure. */
    sealed interface Event permits Token, Finished, Failed {
        int index();
    }

    record Token(int index, GeneratedToken token) implements Event {}

    record Finished(int index, GenerationResult result) implements Event {}

    record Failed(int index, RuntimeException error) implements Event {}

    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<GenerationHandle> handles = new ArrayList<>();
    private final String model;
    private final String adapter;
    private final ServeMetrics metrics;
    private final long startNanos;
    private volatile long firstTokenNanos;

    /** @param model, adapter the metrics labels; {@code startNanos} when the request arrived */
    Choices(String model, String adapter, ServeMetrics metrics, long startNanos) {
        this.model = model;
        this.adapter = adapter;
        this.metrics = metrics;
        this.startNanos = startNanos;
    }

    /** The listener of the next choice (index = choices added so far). */
    GenerationListener listener() {
        int index = handles.size();
        return new GenerationListener() {
            private long lastTokenNanos;

            @Override
            public void onToken(GeneratedToken token) {
                long now = System.nanoTime();
                if (lastTokenNanos != 0) {
                    metrics.interTokenLatency(model, adapter, (now - lastTokenNanos) / 1e9);
                } else if (firstTokenNanos == 0) {
                    firstTokenNanos = now;
                }
                lastTokenNanos = now;
                events.add(new Token(index, token));
            }

            @Override
            public void onFinish(GenerationResult result) {
                events.add(new Finished(index, result));
            }

            @Override
            public void onError(RuntimeException error) {
                events.add(new Failed(index, error));
            }
        };
    }

    /** Records the handle of the choice whose {@link #listener} was taken last. */
    void add(GenerationHandle handle) {
        handles.add(handle);
    }

    int size() {
        return handles.size();
    }

    /** The next event of any choice, or null when none came within {@code millis}. */
    Event next(long millis) throws InterruptedException {
        return events.poll(millis, TimeUnit.MILLISECONDS);
    }

    /** Every choice's result in order; a failed choice fails it. */
    List<GenerationResult> results() {
        CompletableFuture.allOf(handles.stream().map(GenerationHandle::result).toArray(CompletableFuture[]::new)).join();
        return handles.stream().map(h -> h.result().join()).toList();
    }

    /** Cancels every choice (a client that went away, or a choice that could not be submitted). */
    void cancel() {
        handles.forEach(GenerationHandle::cancel);
    }

    /** Milliseconds from arrival to the first generated token of any choice; null before one. */
    Double ttftMs() {
        long first = firstTokenNanos;
        return first == 0 ? null : (first - startNanos) / 1e6;
    }

    double elapsedMs() {
        return (System.nanoTime() - startNanos) / 1e6;
    }
}
