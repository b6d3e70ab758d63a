package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A validated body of the legacy {@code POST /v1/completions}. {@code prompt} may be a string, a
 * list of strings, a list of token ids, or a list of token-id lists; each entry is one prompt and
 * gets {@code n} choices.
 *
 * <p>{@code max_tokens} may be 0 only with {@code echo}: the answer is then the prompt itself,
 * with its tokens' log-probabilities when {@code logprobs} is set (what evaluation harnesses ask
 * the legacy API for). Token ids are checked against the model's vocabulary by the engine.
 *
 * @param logprobs null, or how many alternatives (0 to 20) to report per token besides the chosen one
 */
public record CompletionRequest(String model, List<Prompt> prompts, GenerationOptions options, Integer logprobs,
                                boolean echo) {
    public static final int MAX_LOGPROBS = 20;

    private static final Set<String> FIELDS = Set.of("model", "prompt", "temperature", "top_p", "top_k", "min_p",
            "repetition_penalty", "max_tokens", "stop", "seed", "n", "logprobs", "echo", "stream", "stream_options", "user");

    /** One prompt: text to tokenize, or token ids as given. */
    public record Prompt(String text, List<Integer> tokenIds) {
        public Prompt {
            if ((text == null) == (tokenIds == null)) {
                throw new IllegalArgumentException("a prompt is text or token ids");
            }
            tokenIds = tokenIds == null ? null : List.copyOf(tokenIds);
        }

        public static Prompt text(String text) {
            return new Prompt(text, null);
        }

        public static Prompt tokens(List<Integer> ids) {
            return new Prompt(null, ids);
        }
    }

    public CompletionRequest {
        prompts = List.copyOf(prompts);
    }

    /** Validates {@code body} as {@link ChatCompletionRequest#parse} does. */
    public static CompletionRequest parse(JsonNode body, RequestLimits limits) {
        RequestFields f = new RequestFields(body, "");
        f.allowOnly(FIELDS, UnsupportedParameters.COMPLETIONS);
        String model = ChatCompletionRequest.model(f);
        List<Prompt> prompts = prompts(f.get("prompt"));
        boolean echo = Boolean.TRUE.equals(f.bool("echo"));
        Long maxTokens = f.integer("max_tokens", 0, Integer.MAX_VALUE);
        if (maxTokens != null && maxTokens == 0 && !echo) {
            throw ApiError.invalid("Invalid 'max_tokens': 0 generates nothing; it is allowed only with echo: true (to score"
                    + " the prompt).", "max_tokens", "integer_below_min_value");
        }
        ChatCompletionRequest.checkCap(maxTokens, "max_tokens", limits);
        GenerationOptions options = GenerationOptions.read(f, maxTokens == null ? null : maxTokens.intValue());
        if ((long) options.n() * prompts.size() > GenerationOptions.MAX_CHOICES) {
            throw ApiError.invalid("Invalid 'n': " + prompts.size() + " prompts with n=" + options.n() + " ask for "
                    + (long) options.n() * prompts.size() + " choices; at most " + GenerationOptions.MAX_CHOICES
                    + " per request.", "n", "integer_above_max_value");
        }
        Long logprobs = f.integer("logprobs", 0, MAX_LOGPROBS);
        return new CompletionRequest(model, prompts, options, logprobs == null ? null : logprobs.intValue(), echo);
    }

    private static List<Prompt> prompts(JsonNode node) {
        if (node == null) {
            throw ApiError.invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }
        if (node.isTextual()) {
            return List.of(Prompt.text(node.asText()));
        }
        if (!node.isArray()) {
            throw RequestFields.wrongType("prompt", "a string, an array of strings, an array of token ids or an array of"
                    + " token-id arrays", node);
        }
        if (node.isEmpty()) {
            throw ApiError.invalid("Invalid 'prompt': empty array; give at least one prompt.", "prompt", "empty_array");
        }
        if (node.get(0).isNumber()) {
            return List.of(Prompt.tokens(tokenIds(node, "prompt")));
        }
        List<Prompt> out = new ArrayList<>();
        boolean texts = node.get(0).isTextual();
        for (int i = 0; i < node.size(); i++) {
            JsonNode item = node.get(i);
            String field = "prompt[" + i + "]";
            if (texts && item.isTextual()) {
                out.add(Prompt.text(item.asText()));
            } else if (!texts && item.isArray()) {
                if (item.isEmpty()) {
                    throw ApiError.invalid("Invalid '" + field + "': empty token list.", field, "empty_array");
                }
                out.add(Prompt.tokens(tokenIds(item, field)));
            } else {
                throw RequestFields.wrongType(field, texts ? "a string (like prompt[0])" : "an array of token ids (like prompt[0])", item);
            }
        }
        return out;
    }

    private static List<Integer> tokenIds(JsonNode array, String field) {
        List<Integer> ids = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) {
            ids.add((int) RequestFields.integerValue(array.get(i), field + "[" + i + "]", 0, Integer.MAX_VALUE));
        }
        return ids;
    }
}
