package dev.tailor.serve;

import dev.tailor.model.TokenLogprob;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A prompt to score (log-probabilities of its tokens), run on the scheduler thread in its turn. */
final class ScoreJob extends Work {
    final int[] tokens;
    final int topLogprobs;
    final CompletableFuture<List<TokenLogprob>> result = new CompletableFuture<>();

    ScoreJob(int[] tokens, AdapterCache.Entry adapter, int topLogprobs) {
        super(adapter);
        this.tokens = tokens.clone();
        this.topLogprobs = topLogprobs;
    }

    /** A caller that cancelled the future no longer wants the scores. */
    @Override
    boolean isCancelled() {
        return result.isDone();
    }
}
