package dev.tailor.serve;

import dev.tailor.TailorException;
import dev.tailor.model.Continuation;
import dev.tailor.model.Model;
import dev.tailor.model.ModelConfig;
import dev.tailor.model.TokenLogprob;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * Serves one base model and many LoRA adapters to concurrent requests with continuous batching:
 * requests join the running batch between decoding steps and leave as soon as they finish, and
 * requests for different adapters decode in the same batch (the base products shared, each
 * adapter's applied to its own rows). Seeded sampling gives the same tokens whatever else shares the
 * batch, and greedy decoding the same tokens as the request alone.
 *
 * <p>Thread-safe: any thread may submit, cancel, score, register and unregister. The model, its
 * KV cache and the adapters live on one scheduler thread ({@link Scheduler}), where every libtorch
 * call happens and listeners are called. Requests are checked here, in Java, before they reach it:
 * a bad request fails in the caller's thread and never touches native code.
 */
public final class BatchingEngine implements AutoCloseable {
    private final Path modelDirectory;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final EngineOptions options;
    private final int maxSequenceLength;
    private final Scheduler scheduler;
    private final AtomicLong nextId = new AtomicLong();

    private BatchingEngine(Path modelDirectory, ModelConfig config, Tokenizer tokenizer, EngineOptions options,
                           int maxSequenceLength, Scheduler scheduler) {
        this.modelDirectory = modelDirectory;
        this.config = config;
        this.tokenizer = tokenizer;
        this.options = options;
        this.maxSequenceLength = maxSequenceLength;
        this.scheduler = scheduler;
    }

    /**
     * Loads the model (on the scheduler thread) and its tokenizer and starts serving. Register
     * adapters with {@link #register} afterwards.
     *
     * @param dtype compute dtype for the weights, or null for the checkpoint's
     */
    public static BatchingEngine start(Path modelDirectory, Device device, DType dtype, EngineOptions options) {
        Objects.requireNonNull(options, "options");
        ModelConfig config = ModelConfig.load(modelDirectory);
        int maxLength = options.maxSequenceLength() == 0 ? config.contextLength() : Math.min(options.maxSequenceLength(), config.contextLength());
        Tokenizer tokenizer = Tokenizer.fromModelDir(modelDirectory);
        CompletableFuture<Scheduler> ready = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            Scheduler scheduler;
            try {
                Engine.ensureConfigured();
                Model model = Model.load(modelDirectory, device, dtype);
                try {
                    scheduler = new Scheduler(model, options, maxLength);
                } catch (RuntimeException e) {
                    model.close();
                    throw e;
                }
            } catch (RuntimeException | Error e) {
                ready.completeExceptionally(e);
                return;
            }
            ready.complete(scheduler);
            scheduler.run();
        }, "tailor-engine");
        thread.setDaemon(true); // close() drains it; a forgotten engine must not keep the JVM alive
        thread.start();
        try {
            return new BatchingEngine(modelDirectory, config, tokenizer, options, maxLength, ready.join());
        } catch (CompletionException e) {
            tokenizer.close();
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /**
     * Accepts a generation; tokens stream to the request's listener as they are produced.
     *
     * @throws TailorException for a bad request (empty prompt, ids outside the vocabulary, prompt +
     *     max_tokens beyond {@link #maxSequenceLength()}, top_logprobs outside 0..20)
     * @throws UnknownAdapterException when the adapter is not registered
     * @throws EngineOverloadedException when max running + max waiting requests are in flight
     * @throws EngineClosedException once {@link #shutdown} began
     */
    public GenerationHandle submit(GenerationRequest request) {
        Objects.requireNonNull(request, "request");
        if (request.params() == null) {
            throw new TailorException("the request has no sampling parameters");
        }
        int[] prompt = request.promptTokenIds();
        checkTokens(prompt, "prompt");
        int maxTokens = request.params().maxTokens();
        if ((long) prompt.length + maxTokens > maxSequenceLength) {
            throw new TailorException("the prompt has " + prompt.length + " tokens and max_tokens is " + maxTokens + ": together "
                    + ((long) prompt.length + maxTokens) + ", more than the " + maxSequenceLength
                    + " tokens this model serves; shorten the prompt or lower max_tokens");
        }
        checkTopLogprobs(request.topLogprobs());
        AdapterCache.Entry adapter = request.adapter() == null ? null : scheduler.adapters.lookup(request.adapter());
        Continuation continuation = new Continuation(prompt, request.params(), tokenizer);
        GenerationHandle handle = new GenerationHandle(nextId.incrementAndGet(), scheduler::wake);
        scheduler.enqueue(new Sequence(handle, request, adapter, continuation));
        return handle;
    }

    /**
     * Scores a prompt: for i = 1..n-1 the log-probability of token i after tokens 0..i-1 and the
     * {@code topLogprobs} most likely tokens there, under the adapter (null = base). What the
     * completions API's {@code echo} + {@code logprobs} with max_tokens 0 returns (the first token
     * has none). Runs on the scheduler thread in its turn and counts against the same capacity.
     * Cancelling the returned future drops the job if it has not run yet.
     */
    public CompletableFuture<List<TokenLogprob>> score(int[] tokenIds, String adapter, int topLogprobs) {
        checkTokens(tokenIds, "prompt");
        if (tokenIds.length > maxSequenceLength) {
            throw new TailorException("the prompt has " + tokenIds.length + " tokens, more than the " + maxSequenceLength
                    + " tokens this model serves; shorten it");
        }
        checkTopLogprobs(topLogprobs);
        ScoreJob job = new ScoreJob(tokenIds, adapter == null ? null : scheduler.adapters.lookup(adapter), topLogprobs);
        scheduler.enqueue(job);
        return job.result;
    }

    /**
     * Validates and registers a PEFT adapter under {@code name}: loaded against the base (adapter
     * format, every key a linear layer of this model, shapes, rank at most
     * {@link dev.tailor.model.Adapter#MAX_SERVABLE_RANK}, finite weights) between two decoding steps,
     * so running requests are not disturbed. Blocks until done.
     *
     * @throws TailorException naming what is wrong (nothing is registered then), or when the name is taken
     */
    public void register(String name, Path directory) {
        Objects.requireNonNull(directory, "directory");
        scheduler.call(() -> {
            scheduler.adapters.register(name, directory);
            return null;
        });
    }

    /**
     * Unregisters an adapter: new requests for it fail with {@link UnknownAdapterException}, while
     * requests already accepted for it (running or waiting) finish normally; its weights are freed
     * after the last of them.
     */
    public void unregister(String name) {
        scheduler.call(() -> {
            scheduler.adapters.unregister(name);
            return null;
        });
    }

    /** Registered adapters by name, sorted, with their directories. */
    public Map<String, Path> adapters() {
        return scheduler.adapters.registered();
    }

    /**
     * Tells {@code observer} the number of rows of every decoding step from now on (the batch
     * size, for metrics). It runs on the scheduler thread: it must return at once.
     */
    public void observeDecodeSteps(IntConsumer observer) {
        scheduler.stepObserver = Objects.requireNonNull(observer, "observer");
    }

    public EngineStats stats() {
        return scheduler.stats();
    }

    /**
     * Takes no new requests; accepted ones may finish for {@code grace}, then the rest finish as
     * cancelled; then the model, caches and adapters are freed. Returns when that is done; only the
     * first call's grace counts.
     */
    public CompletableFuture<Void> shutdown(Duration grace) {
        return scheduler.stop(grace);
    }

    /** {@link #shutdown} with the configured grace, waiting for it, then closes the tokenizer. */
    @Override
    public void close() {
        shutdown(options.shutdownGrace()).join();
        tokenizer.close();
    }

    public Path modelDirectory() {
        return modelDirectory;
    }

    public ModelConfig modelConfig() {
        return config;
    }

    /** The model's tokenizer (thread-safe), for chat templates and text; usable until {@link #close}. */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The most tokens one request may use, prompt and max_tokens together. */
    public int maxSequenceLength() {
        return maxSequenceLength;
    }

    public EngineOptions options() {
        return options;
    }

    private void checkTokens(int[] ids, String what) {
        if (ids == null || ids.length == 0) {
            throw new TailorException("the " + what + " is empty; send at least one token");
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new TailorException(what + ": token id " + ids[i] + " at position " + i + " is outside the vocabulary (0.."
                        + (config.vocabSize() - 1) + ")");
            }
        }
    }

    private static void checkTopLogprobs(int n) {
        if (n < 0 || n > TokenLogprob.MAX_TOP) {
            throw new TailorException("top_logprobs must be between 0 and " + TokenLogprob.MAX_TOP + ", got " + n);
        }
    }
}
