package dev.tailor.serve;

import dev.tailor.model.TokenLogprob;
import java.util.List;

/**
 * A finished generation: why it ended, its tokens (a final stop token included, as vLLM counts
 * it), its text (without stop strings or special tokens) and each token's log-probabilities.
 */
public record GenerationResult(FinishReason finishReason, int promptTokens, int[] tokenIds, String text,
                               List<TokenLogprob> logprobs) {
    /** OpenAI's usage.completion_tokens. */
    public int completionTokens() {
        return tokenIds.length;
    }
}
