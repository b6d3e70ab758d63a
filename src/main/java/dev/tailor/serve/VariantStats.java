package dev.tailor.serve;

/**
 * What the request log holds about one variant of an experiment. Means are over the requests with
 * status ok and are null when there is none.
 *
 * @param requests every logged request routed to the variant, whatever its status
 * @param errors   the requests whose status is not ok (errors and cancellations)
 * @param feedback the feedback scores of the variant's responses
 */
public record VariantStats(String variant, long requests, long errors, Double meanLatencyMs, Double meanTtftMs,
                           Double meanPromptTokens, Double meanCompletionTokens, SampleStats feedback) {

    static VariantStats none(String variant) {
        return new VariantStats(variant, 0, 0, null, null, null, null, SampleStats.EMPTY);
    }

    VariantStats withFeedback(SampleStats scores) {
        return new VariantStats(variant, requests, errors, meanLatencyMs, meanTtftMs, meanPromptTokens, meanCompletionTokens, scores);
    }
}
