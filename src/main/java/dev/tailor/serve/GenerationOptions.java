package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.model.SamplingParams;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sampling and output options that chat and text completions share, as the request gave
 * them; null means "not given" and leaves the model's default (generation_config.json).
 *
 * @param topK              vLLM's extension; 0 is off
 * @param minP              vLLM's extension
 * @param repetitionPenalty vLLM's extension (transformers' rule)
 * @param maxTokens         the generation budget per choice; null: see {@link RequestLimits#defaultMaxTokens}
 * @param stop              up to 4 strings, never empty ones
 * @param n                 choices per prompt, 1 to {@link #MAX_CHOICES}
 * @param includeUsage      stream_options.include_usage: a last chunk with usage and no choices
 * @param user              the caller's end user: sticky experiment assignment, logged
 */
public record GenerationOptions(Double temperature, Double topP, Integer topK, Double minP, Double repetitionPenalty,
                                Integer maxTokens, List<String> stop, Long seed, int n, boolean stream,
                                boolean includeUsage, String user) {
    /** Choices one request may ask for in all (n times the prompts of a batch). */
    public static final int MAX_CHOICES = 128;
    /** OpenAI's limit on stop sequences. */
    static final int MAX_STOP = 4;

    public GenerationOptions {
        stop = List.copyOf(stop);
    }

    /**
     * The request's options over the model's {@code defaults} (which bring the EOS stop ids),
     * with {@code maxTokens} as the resolved budget.
     */
    public SamplingParams sampling(SamplingParams defaults, int maxTokens) {
        return defaults.withMaxTokens(maxTokens).withStop(stop).withOverrides(temperature, topP, topK, minP, repetitionPenalty, seed);
    }

    /** Reads the shared fields; {@code maxTokens} was already read by the caller (its field differs). */
    static GenerationOptions read(RequestFields f, Integer maxTokens) {
        Double temperature = f.decimal("temperature", 0, false, 2);
        Double topP = f.decimal("top_p", 0, true, 1);
        Long topK = f.integer("top_k", -1, Integer.MAX_VALUE);
        Double minP = f.decimal("min_p", 0, false, 1);
        Double repetitionPenalty = f.decimal("repetition_penalty", 0, true, Double.MAX_VALUE);
        List<String> stop = f.stop("stop", MAX_STOP);
        Long seed = f.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        Long n = f.integer("n", 1, MAX_CHOICES);
        boolean stream = Boolean.TRUE.equals(f.bool("stream"));
        boolean includeUsage = false;
        if (f.get("stream_options") != null) {
            if (!stream) {
                throw ApiError.invalid("The 'stream_options' parameter is only allowed when 'stream' is true.", "stream_options");
            }
            includeUsage = streamOptions(f.get("stream_options"));
        }
        String user = f.string("user", false);
        return new GenerationOptions(temperature, topP, topK == null ? null : (int) Math.max(0, topK), // vLLM's -1 = off
                minP, repetitionPenalty, maxTokens, stop, seed, n == null ? 1 : n.intValue(), stream, includeUsage, user);
    }

    private static boolean streamOptions(JsonNode node) {
        if (!node.isObject()) {
            throw RequestFields.wrongType("stream_options", "an object", node);
        }
        RequestFields options = new RequestFields(node, "stream_options.");
        options.allowOnly(Set.of("include_usage"), Map.of("include_obfuscation", JsonNode::isBoolean)); // padding against side channels: moot here
        return Boolean.TRUE.equals(options.bool("include_usage"));
    }
}
