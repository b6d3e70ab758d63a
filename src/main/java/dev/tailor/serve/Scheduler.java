package dev.tailor.serve;

import dev.tailor.model.Adapter;
import dev.tailor.model.Model;
import dev.tailor.model.PromptChunk;
import dev.tailor.model.SlotKvCache;
import dev.tailor.model.TokenLogprob;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * The engine's one thread: it owns the model, the KV-cache slots and the adapters, and every
 * libtorch call of the engine happens on it. Other threads only put work into its inbox.
 *
 * <p>Each iteration: (1) run adapter (un)registrations and take new work from the inbox; (2) drop
 * what was cancelled; (3) with sequences decoding: one decoding step for every running sequence,
 * whatever their adapters, in the same forward pass as the next chunk of one prompt (the partly read
 * one, else the next waiting request in order of arrival whose adapter can be resident, when a slot
 * is free), at most {@link EngineOptions#prefillTokensPerStep} tokens: the chunk's matrix products
 * read every weight anyway, so the decoding rows ride along almost free (vLLM's chunked prefill);
 * (3') with none decoding: prefill waiting prompts alone, up to that many tokens, then decode the
 * ones that are read; a prompt-scoring job runs whole in its turn; (4) finished and cancelled
 * sequences leave and free their slot, and a prompt read to its end joins with its first token.
 */
final class Scheduler implements Runnable {
    private static final Object WAKE = new Object();
    private static final int RETRY_AFTER_SECONDS = 1;

    /** An adapter (un)registration, run between steps. */
    private record AdminTask(Runnable body, CompletableFuture<?> done) {}

    final Model model;
    final AdapterCache adapters;
    private final EngineOptions options;
    private final SlotKvCache cache;
    private final LinkedBlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private final ArrayDeque<Work> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private Sequence prefilling;
    private boolean inboxClosed; // guarded by this
    private volatile Thread thread;
    private volatile boolean stopping;
    private volatile long deadlineNanos;
    private volatile int runningCount;
    private volatile long decodeSteps;
    private volatile long decodedTokens;

    /** Told the rows of each decoding step, on this thread (metrics). */
    volatile IntConsumer stepObserver = rows -> { };

    Scheduler(Model model, EngineOptions options, int maxSequenceLength) {
        this.model = model;
        this.options = options;
        this.adapters = new AdapterCache(model, options.maxLoadedAdapters());
        this.cache = model.newSlotCache(options.maxRunning(), maxSequenceLength);
    }

    // ---- any thread ----

    /** Accepts work for the queue, or refuses it at once when the engine is full or stopping. */
    synchronized void enqueue(Work work) {
        if (inboxClosed || stopping) {
            throw new EngineClosedException("the engine is shutting down and takes no new requests");
        }
        int capacity = options.maxRunning() + options.maxWaiting();
        if (inFlight.get() >= capacity) {
            throw new EngineOverloadedException("the server is busy: " + capacity + " requests in flight (" + options.maxRunning()
                    + " running + " + options.maxWaiting() + " waiting); retry later", RETRY_AFTER_SECONDS);
        }
        inFlight.incrementAndGet();
        inbox.add(work);
    }

    /** Runs {@code task} on the scheduler thread between two steps and returns its result. */
    <T> T call(Supplier<T> task) {
        if (Thread.currentThread() == thread) {
            throw new IllegalStateException("adapters cannot be registered or unregistered from a listener (the scheduler thread)");
        }
        CompletableFuture<T> done = new CompletableFuture<>();
        synchronized (this) {
            if (inboxClosed) {
                throw new EngineClosedException("the engine is shut down");
            }
            inbox.add(new AdminTask(() -> done.complete(task.get()), done));
        }
        try {
            return done.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    void wake() {
        inbox.add(WAKE);
    }

    /** Takes no more work; what was accepted may finish until {@code grace} has passed, then is cancelled. */
    CompletableFuture<Void> stop(Duration grace) {
        synchronized (this) {
            if (!stopping) {
                // capped at 136 years: Duration.toNanos() throws beyond 292
                deadlineNanos = System.nanoTime() + Math.min(grace.getSeconds(), 1L << 32) * 1_000_000_000L + grace.getNano();
                stopping = true;
            }
        }
        wake();
        return terminated;
    }

    EngineStats stats() {
        int r = runningCount;
        return new EngineStats(r, Math.max(0, inFlight.get() - r), adapters.residentCount(), adapters.loads(), decodeSteps, decodedTokens);
    }

    // ---- the scheduler thread ----

    @Override
    public void run() {
        thread = Thread.currentThread();
        RuntimeException failure = null;
        // gradients: Model.prefill, decode and scores switch them off themselves (an adapter made in
        // this process, with weights that require them, once recorded a graph into the KV cache)
        try {
            while (true) {
                takeInbox(!stopping && idle());
                if (stopping && System.nanoTime() - deadlineNanos >= 0) {
                    cancelEverything();
                }
                dropCancelled();
                if (stopping && idle()) {
                    break;
                }
                if (running.isEmpty()) {
                    admit();
                    if (!running.isEmpty()) {
                        decode(null);
                    }
                } else {
                    decode(nextPrefill());
                }
                runningCount = running.size();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) { // a bug: fail every request rather than leave callers waiting forever
            failure = new IllegalStateException("the engine stopped after an internal error: " + e, e);
        } finally {
            shutDown(failure);
        }
    }

    private boolean idle() {
        return waiting.isEmpty() && prefilling == null && running.isEmpty();
    }

    private void takeInbox(boolean block) throws InterruptedException {
        Object item = block ? inbox.take() : inbox.poll();
        while (item != null) {
            if (item instanceof Work w) {
                waiting.add(w);
            } else if (item instanceof AdminTask task) {
                try {
                    task.body().run();
                } catch (RuntimeException e) {
                    task.done().completeExceptionally(e);
                }
            }
            item = inbox.poll();
        }
    }

    private void cancelEverything() {
        List<Work> all = new ArrayList<>(waiting);
        all.addAll(running);
        if (prefilling != null) {
            all.add(prefilling);
        }
        for (Work w : all) {
            if (w instanceof Sequence s) {
                s.handle.cancel();
            } else {
                ((ScoreJob) w).result.completeExceptionally(new EngineClosedException("the engine shut down before scoring"));
            }
        }
    }

    private void dropCancelled() {
        for (Iterator<Work> it = waiting.iterator(); it.hasNext(); ) {
            Work w = it.next();
            if (w.isCancelled()) {
                it.remove();
                end(w);
            }
        }
        if (prefilling != null && prefilling.isCancelled()) {
            Sequence s = prefilling;
            prefilling = null;
            cache.clear(s.slot);
            end(s);
        }
        removeFinished();
    }

    /** Ends cancelled work: a generation finishes as cancelled, a scoring job's caller has gone. */
    private void end(Work w) {
        if (w instanceof Sequence s) {
            finish(s, FinishReason.CANCELLED);
        } else {
            settle(w);
        }
    }

    private void admit() {
        int budget = options.prefillTokensPerStep();
        while (budget > 0) {
            if (prefilling == null) {
                int scored = startNext();
                if (scored < 0) {
                    return;
                }
                budget -= scored;
                continue;
            }
            budget -= prefillChunk(prefilling, budget);
        }
    }

    /**
     * The sequence whose next prompt chunk rides along this iteration's decoding step: the partly
     * prefilled one, else the next admissible request (scoring jobs met on the way run whole, within
     * the iteration's prompt-token budget), or null.
     */
    private Sequence nextPrefill() {
        int budget = options.prefillTokensPerStep();
        while (prefilling == null && budget > 0) {
            int scored = startNext();
            if (scored < 0) {
                return null;
            }
            budget -= scored;
        }
        return prefilling;
    }

    /**
     * Starts the first admissible waiting work: a scoring job runs whole and its token count is
     * returned (it counts against the prompt-token budget); a generation becomes the one being
     * prefilled, in the next free slot (0). -1 when nothing can start now.
     */
    private int startNext() {
        Work next = nextAdmissible();
        if (next == null) {
            return -1;
        }
        if (next instanceof ScoreJob job) {
            score(job);
            return job.tokens.length;
        }
        prefilling = (Sequence) next;
        prefilling.slot = running.size();
        return 0;
    }

    /** The first waiting work that can start now: a slot is free for a generation, and its adapter can be resident. */
    private Work nextAdmissible() {
        for (Iterator<Work> it = waiting.iterator(); it.hasNext(); ) {
            Work w = it.next();
            if (w instanceof Sequence && running.size() >= options.maxRunning()) {
                continue;
            }
            if (w.adapterEntry != null) {
                try {
                    w.adapter = adapters.acquire(w.adapterEntry);
                } catch (RuntimeException e) { // its files changed since it was registered
                    it.remove();
                    fail(w, e);
                    continue;
                }
                if (w.adapter == null) {
                    continue; // every resident adapter is in use: wait until a request finishes
                }
            }
            it.remove();
            return w;
        }
        return null;
    }

    private void score(ScoreJob job) {
        try {
            job.result.complete(model.scores(job.tokens, job.adapter, job.topLogprobs));
        } catch (RuntimeException e) {
            job.result.completeExceptionally(e);
        } finally {
            settle(job);
        }
    }

    /** Prefills the next part of {@code s}'s prompt, at most {@code budget} tokens, and returns how many it took. */
    private int prefillChunk(Sequence s, int budget) {
        int[] chunk = s.nextPromptChunk(budget);
        int n = chunk.length;
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = model.prefill(cache, s.slot, chunk, s.adapter);
            readChunk(s, n, logits.view(1, -1));
        } catch (RuntimeException e) {
            prefilling = null;
            cache.clear(s.slot);
            fail(s, e);
            return n;
        }
        if (s.prefillDone()) {
            joinOrFinish(s);
        }
        return n;
    }

    /** Counts {@code n} more prompt tokens as read; at the prompt's end, takes its first token from {@code logits} [1, vocab]. */
    private void readChunk(Sequence s, int n, Tensor logits) {
        s.prefilled += n;
        if (s.prefillDone()) {
            int token = s.continuation.sample(logits.select(0, 0));
            accept(s, token, TokenLogprob.pick(logits, new int[] {token}, s.topLogprobs).get(0));
        }
    }

    /** A sequence whose prompt is read (and its first token taken) joins the decoding rows, or ends there. */
    private void joinOrFinish(Sequence s) {
        prefilling = null;
        if (s.continuation.done() || s.isCancelled()) {
            cache.clear(s.slot);
            finish(s, reasonOf(s));
        } else {
            int row = running.size(); // a sequence that left while this one was prefilled may have moved the end
            if (s.slot != row) {
                cache.move(s.slot, row);
                s.slot = row;
            }
            running.add(s);
        }
    }

    /**
     * One decoding step for all running sequences, each with its own adapter, with the next chunk of
     * {@code reading}'s prompt (if any) in the same pass; then the finished ones leave, and
     * {@code reading} joins them once its prompt is read.
     */
    private void decode(Sequence reading) {
        int n = running.size();
        int[] tokens = new int[n];
        List<Adapter> rowAdapters = new ArrayList<>(n);
        int top = 0;
        for (int i = 0; i < n; i++) {
            Sequence s = running.get(i);
            tokens[i] = s.continuation.lastToken();
            rowAdapters.add(s.adapter);
            top = Math.max(top, s.topLogprobs);
        }
        PromptChunk chunk = reading == null ? null
                : new PromptChunk(reading.slot, reading.nextPromptChunk(options.prefillTokensPerStep()), reading.adapter);
        try (PointerScope scope = new PointerScope()) {
            Tensor logits = model.decode(cache, tokens, rowAdapters, chunk);
            int[] next = new int[n];
            for (int i = 0; i < n; i++) {
                next[i] = running.get(i).continuation.sample(logits.select(0, i));
            }
            List<TokenLogprob> picked = TokenLogprob.pick(logits.narrow(0, 0, n), next, top);
            for (int i = 0; i < n; i++) {
                Sequence s = running.get(i);
                accept(s, next[i], picked.get(i).limit(s.topLogprobs));
            }
            if (reading != null) {
                readChunk(reading, chunk.tokens().length, logits.narrow(0, n, 1));
            }
        } catch (RuntimeException e) { // a failed step leaves every row's cache in doubt: fail the batch, keep serving
            for (Sequence s : running) {
                cache.clear(s.slot);
                fail(s, e);
            }
            running.clear();
            if (reading != null) {
                prefilling = null;
                cache.clear(reading.slot);
                fail(reading, e);
            }
            return;
        }
        decodeSteps = decodeSteps + 1;
        decodedTokens = decodedTokens + n;
        stepObserver.accept(n);
        removeFinished();
        if (reading != null && reading.prefillDone()) {
            joinOrFinish(reading);
        }
    }

    /** Finished or cancelled sequences leave; the last running one moves into each freed slot, keeping rows 0..n-1 dense. */
    private void removeFinished() {
        for (int j = running.size() - 1; j >= 0; j--) {
            Sequence s = running.get(j);
            if (s.continuation.done() || s.isCancelled()) {
                int last = running.size() - 1;
                Sequence moved = running.remove(last);
                if (j == last) {
                    cache.clear(j);
                } else {
                    cache.move(last, j);
                    running.set(j, moved);
                    moved.slot = j;
                }
                finish(s, reasonOf(s));
            }
        }
    }

    private static FinishReason reasonOf(Sequence s) {
        return s.continuation.done() ? FinishReason.of(s.continuation.finishReason()) : FinishReason.CANCELLED;
    }

    private void accept(Sequence s, int token, TokenLogprob logprob) {
        String text = s.continuation.accept(token);
        s.logprobs.add(logprob);
        GeneratedToken generated = new GeneratedToken(s.logprobs.size() - 1, text, logprob);
        notify(s, l -> l.onToken(generated));
    }

    private void finish(Sequence s, FinishReason reason) {
        settle(s);
        GenerationResult result = new GenerationResult(reason, s.prompt.length, s.continuation.tokenIds(), s.continuation.text(),
                List.copyOf(s.logprobs));
        notify(s, l -> l.onFinish(result));
        s.handle.complete(result);
    }

    private void fail(Work w, RuntimeException e) {
        settle(w);
        if (w instanceof Sequence s) {
            notify(s, l -> l.onError(e));
            s.handle.fail(e);
        } else {
            ((ScoreJob) w).result.completeExceptionally(e);
        }
    }

    /** Gives back what finished work held: its adapter and its place in the engine's capacity. */
    private void settle(Work w) {
        if (w.adapter != null) {
            adapters.release(w.adapterEntry);
            w.adapter = null;
        }
        inFlight.decrementAndGet();
    }

    /** A listener that throws has lost its client: its request is cancelled at the next step. */
    private static void notify(Sequence s, Consumer<GenerationListener> call) {
        if (s.listener != null) {
            try {
                call.accept(s.listener);
            } catch (RuntimeException e) {
                s.handle.cancel();
            }
        }
    }

    /** Ends everything still inside (cancelled, or failed after an internal error) and frees native memory. */
    private void shutDown(RuntimeException failure) {
        List<Object> rest = new ArrayList<>();
        synchronized (this) {
            inboxClosed = true;
            stopping = true;
            inbox.drainTo(rest);
        }
        for (Object item : rest) {
            if (item instanceof Work w) {
                waiting.add(w);
            } else if (item instanceof AdminTask task) {
                task.done().completeExceptionally(new EngineClosedException("the engine shut down"));
            }
        }
        List<Work> all = new ArrayList<>(waiting);
        all.addAll(running);
        if (prefilling != null) {
            all.add(prefilling);
        }
        waiting.clear();
        running.clear();
        prefilling = null;
        for (Work w : all) {
            if (failure != null) {
                fail(w, failure);
            } else if (w instanceof Sequence s) {
                finish(s, reasonOf(s));
            } else {
                fail(w, new EngineClosedException("the engine shut down before scoring"));
            }
        }
        runningCount = 0;
        try {
            cache.close();
            adapters.close();
            model.close();
        } finally {
            terminated.complete(null);
        }
    }
}
