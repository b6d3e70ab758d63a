package dev.tailor.serve;

import dev.tailor.TailorException;
import java.time.Duration;

/**
 * How much the engine takes on.
 *
 * @param maxRunning sequences decoded together at most (the batch; each holds a KV-cache slot)
 * @param maxWaiting accepted requests waiting beyond those: with {@code maxRunning} the most requests
 *     in flight; one more is refused at once ({@link EngineOverloadedException})
 * @param prefillTokensPerStep prompt tokens prefilled between two decoding steps at most: a longer
 *     prompt is prefilled in chunks, so running streams keep flowing while it is read
 * @param maxLoadedAdapters adapters kept in memory at most; the least recently used idle one is
 *     unloaded to make room, and reloaded from its directory when asked for again
 * @param maxSequenceLength prompt + max_tokens at most per request, 0 for the model's context; also
 *     what one KV-cache slot may grow to
 * @param shutdownGrace how long {@link BatchingEngine#close} lets accepted requests finish before
 *     cancelling the rest
 */
public record EngineOptions(int maxRunning, int maxWaiting, int prefillTokensPerStep, int maxLoadedAdapters,
                            int maxSequenceLength, Duration shutdownGrace) {
    public EngineOptions {
        positive("max running sequences", maxRunning);
        positive("prefill tokens per step", prefillTokensPerStep);
        positive("max loaded adapters", maxLoadedAdapters);
        if (maxWaiting < 0) {
            throw new TailorException("max waiting requests must be >= 0, got " + maxWaiting);
        }
        if (maxSequenceLength < 0) {
            throw new TailorException("max sequence length must be >= 0 (0 = the model's context), got " + maxSequenceLength);
        }
        if (shutdownGrace == null || shutdownGrace.isNegative()) {
            throw new TailorException("the shutdown grace period must be >= 0, got " + shutdownGrace);
        }
    }

    /**
     * 8 running (the rows the bf16 decode kernel's AVX-512 path takes at once; its AMX path takes up
     * to 32), 64 waiting, 256 prefill tokens per step, 8 adapters in memory, the model's context, 30 s grace.
     */
    public static EngineOptions defaults() {
        return new EngineOptions(8, 64, 256, 8, 0, Duration.ofSeconds(30));
    }

    private static void positive(String what, int value) {
        if (value < 1) {
            throw new TailorException(what + " must be >= 1, got " + value);
        }
    }

    public EngineOptions withMaxRunning(int v) {
        return new EngineOptions(v, maxWaiting, prefillTokensPerStep, maxLoadedAdapters, maxSequenceLength, shutdownGrace);
    }

    public EngineOptions withMaxWaiting(int v) {
        return new EngineOptions(maxRunning, v, prefillTokensPerStep, maxLoadedAdapters, maxSequenceLength, shutdownGrace);
    }

    public EngineOptions withPrefillTokensPerStep(int v) {
        return new EngineOptions(maxRunning, maxWaiting, v, maxLoadedAdapters, maxSequenceLength, shutdownGrace);
    }

    public EngineOptions withMaxLoadedAdapters(int v) {
        return new EngineOptions(maxRunning, maxWaiting, prefillTokensPerStep, v, maxSequenceLength, shutdownGrace);
    }

    public EngineOptions withMaxSequenceLength(int v) {
        return new EngineOptions(maxRunning, maxWaiting, prefillTokensPerStep, maxLoadedAdapters, v, shutdownGrace);
    }

    public EngineOptions withShutdownGrace(Duration v) {
        return new EngineOptions(maxRunning, maxWaiting, prefillTokensPerStep, maxLoadedAdapters, maxSequenceLength, v);
    }
}
