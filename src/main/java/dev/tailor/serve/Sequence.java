package dev.tailor.serve;

import dev.tailor.model.Continuation;
import dev.tailor.model.TokenLogprob;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A generation request inside the engine: waiting, being prefilled, or decoding in a KV-cache slot. */
final class Sequence extends Work {
    final GenerationHandle handle;
    final int[] prompt;
    final int topLogprobs;
    final GenerationListener listener;
    final Continuation continuation;
    final List<TokenLogprob> logprobs = new ArrayList<>();
    /** Its KV-cache slot once admitted; while decoding, also its row in the batch. */
    int slot = -1;
    /** Prompt tokens already in the cache. */
    int prefilled;

    Sequence(GenerationHandle handle, GenerationRequest request, AdapterCache.Entry adapter, Continuation continuation) {
        super(adapter);
        this.handle = handle;
        this.prompt = request.promptTokenIds().clone();
        this.topLogprobs = request.topLogprobs();
        this.listener = request.listener();
        this.continuation = continuation;
    }

    @Override
    boolean isCancelled() {
        return handle.isCancelled();
    }

    boolean prefillDone() {
        return prefilled == prompt.length;
    }

    /** The next at most {@code max} prompt tokens not yet in the cache. */
    int[] nextPromptChunk(int max) {
        return Arrays.copyOfRange(prompt, prefilled, prefilled + Math.min(max, prompt.length - prefilled));
    }
}
