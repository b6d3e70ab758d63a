package dev.tailor.serve;

import dev.tailor.model.SamplingParams;

/**
 * A completion to generate.
 *
 * @param promptTokenIds the prompt, already rendered and tokenized (chat template, BOS)
 * @param adapter a registered adapter's name, or null for the base model
 * @param params sampling, max_tokens, stop strings and stop token ids; a seed makes this request's
 *     tokens reproducible whatever else is in the batch
 * @param topLogprobs how many most likely alternatives to report per token, 0..20 (each token's
 *     own log-probability is always reported)
 * @param listener streaming receiver, or null when only {@link GenerationHandle#result()} is wanted
 */
public record GenerationRequest(int[] promptTokenIds, String adapter, SamplingParams params, int topLogprobs,
                                GenerationListener listener) {}
