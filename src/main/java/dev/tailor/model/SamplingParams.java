package dev.tailor.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * How to pick each next token. temperature 0 is greedy; otherwise the logits pass, in
 * transformers' order, repetition penalty, temperature, top-k, top-p and min-p before sampling.
 */
public record SamplingParams(double temperature, double topP, int topK, double minP, double repetitionPenalty,
                             Long seed, int maxTokens, List<String> stop, Set<Integer> stopTokenIds) {

    public SamplingParams {
        stop = List.copyOf(stop);
        stopTokenIds = Set.copyOf(stopTokenIds);
        if (temperature < 0 || Double.isNaN(temperature)) {
            throw new TailorException("temperature must be >= 0 (0 = greedy), got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new TailorException("top_p must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new TailorException("top_k must be >= 0 (0 = off), got " + topK);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new TailorException("min_p must be in [0, 1], got " + minP);
        }
        if (!(repetitionPenalty > 0)) {
            throw new TailorException("repetition_penalty must be > 0 (1 = off), got " + repetitionPenalty);
        }
        if (maxTokens < 1) {
            throw new TailorException("max_tokens must be >= 1, got " + maxTokens);
        }
        if (stop.stream().anyMatch(String::isEmpty)) {
            throw new TailorException("stop strings must not be empty");
        }
    }

    public static SamplingParams greedy(int maxTokens, Set<Integer> stopTokenIds) {
        return new SamplingParams(0, 1, 0, 0, 1, null, maxTokens, List.of(), stopTokenIds);
    }

    /**
     * Defaults from the model's generation_config.json (as transformers' generate() uses them):
     * sampling only when do_sample is true, eos ids (one or a list) as stop tokens.
     */
    public static SamplingParams fromGenerationConfig(Path modelDir, ModelConfig config) {
        Path file = modelDir.resolve("generation_config.json");
        JsonNode g = Files.isRegularFile(file) ? Json.readTree(file) : Json.MAPPER.createObjectNode();
        boolean sample = g.path("do_sample").asBoolean(false);
        List<Integer> eos = g.hasNonNull("eos_token_id") ? ModelConfig.eosIds(g.get("eos_token_id")) : config.eosTokenIds();
        return new SamplingParams(sample ? g.path("temperature").asDouble(1.0) : 0.0,
                sample ? g.path("top_p").asDouble(1.0) : 1.0,
                sample && !g.path("top_k").isNull() ? g.path("top_k").asInt(50) : 0, // null disables top-k
                sample ? g.path("min_p").asDouble(0.0) : 0.0,
                g.path("repetition_penalty").asDouble(1.0),
                null, g.path("max_new_tokens").asInt(256), List.of(), Set.copyOf(eos));
    }

    /** These settings with each given (non-null) value in place of its own: a request's or a command line's choices over defaults. */
    public SamplingParams withOverrides(Double temperature, Double topP, Integer topK, Double minP, Double repetitionPenalty, Long seed) {
        return new SamplingParams(temperature != null ? temperature : this.temperature, topP != null ? topP : this.topP,
                topK != null ? topK : this.topK, minP != null ? minP : this.minP,
                repetitionPenalty != null ? repetitionPenalty : this.repetitionPenalty, seed != null ? seed : this.seed,
                maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withTemperature(double v) {
        return new SamplingParams(v, topP, topK, minP, repetitionPenalty, seed, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withTopP(double v) {
        return new SamplingParams(temperature, v, topK, minP, repetitionPenalty, seed, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withTopK(int v) {
        return new SamplingParams(temperature, topP, v, minP, repetitionPenalty, seed, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withMinP(double v) {
        return new SamplingParams(temperature, topP, topK, v, repetitionPenalty, seed, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withRepetitionPenalty(double v) {
        return new SamplingParams(temperature, topP, topK, minP, v, seed, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withSeed(Long v) {
        return new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, v, maxTokens, stop, stopTokenIds);
    }

    public SamplingParams withMaxTokens(int v) {
        return new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, seed, v, stop, stopTokenIds);
    }

    public SamplingParams withStop(List<String> v) {
        return new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, seed, maxTokens, v, stopTokenIds);
    }

    public SamplingParams withStopTokenIds(Set<Integer> v) {
        return new SamplingParams(temperature, topP, topK, minP, repetitionPenalty, seed, maxTokens, stop, v);
    }
}
