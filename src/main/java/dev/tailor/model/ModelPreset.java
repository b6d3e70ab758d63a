package dev.tailor.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Exact architectures of real models (their published config.json values), for generating
 * random-weight models with real shapes: tests and benchmarks need no download.
 */
public enum ModelPreset {
    /** A Qwen2.5-shaped toy (biases, tied embeddings, GQA) small enough for unit tests. */
    TINY("tiny", "qwen2", 512, 64, 176, 2, 4, 2, null, 1_000_000, 1e-6, 2048, true),
    SMOLLM2_135M("smollm2-135m", "llama", 49152, 576, 1536, 30, 9, 3, 64, 100_000, 1e-5, 8192, true),
    QWEN25_05B("qwen2.5-0.5b", "qwen2", 151936, 896, 4864, 24, 14, 2, null, 1_000_000, 1e-6, 32768, true),
    LLAMA32_1B("llama-3.2-1b", "llama", 128256, 2048, 8192, 16, 32, 8, 64, 500_000, 1e-5, 131072, true);

    public final String id;
    final String modelType;
    public final int vocabSize;
    final int hidden;
    final int intermediate;
    final int layers;
    final int heads;
    final int kvHeads;
    final Integer headDim;
    final double ropeTheta;
    final double rmsEps;
    final int maxPositions;
    final boolean tied;

    ModelPreset(String id, String modelType, int vocabSize, int hidden, int intermediate, int layers, int heads,
                int kvHeads, Integer headDim, double ropeTheta, double rmsEps, int maxPositions, boolean tied) {
        this.id = id;
        this.modelType = modelType;
        this.vocabSize = vocabSize;
        this.hidden = hidden;
        this.intermediate = intermediate;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.ropeTheta = ropeTheta;
        this.rmsEps = rmsEps;
        this.maxPositions = maxPositions;
        this.tied = tied;
    }

    public static ModelPreset parse(String id) {
        for (ModelPreset p : values()) {
            if (p.id.equals(id.toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new TailorException("unknown preset '" + id + "'; choose one of "
                + Arrays.stream(values()).map(p -> p.id).collect(Collectors.joining(", ")));
    }

    /** config.json as transformers writes it for this architecture, with the given special token ids. */
    public ObjectNode configJson(String torchDtype, int bosId, int eosId) {
        ObjectNode c = Json.MAPPER.createObjectNode();
        c.putArray("architectures").add(modelType.equals("qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        c.put("model_type", modelType);
        c.put("vocab_size", vocabSize);
        c.put("hidden_size", hidden);
        c.put("intermediate_size", intermediate);
        c.put("num_hidden_layers", layers);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        if (headDim != null) {
            c.put("head_dim", headDim);
        }
        c.put("hidden_act", "silu");
        c.put("max_position_embeddings", maxPositions);
        c.put("rms_norm_eps", rmsEps);
        c.put("rope_theta", ropeTheta);
        if (this == LLAMA32_1B) {
            ObjectNode s = c.putObject("rope_scaling");
            s.put("rope_type", "llama3");
            s.put("factor", 32.0);
            s.put("low_freq_factor", 1.0);
            s.put("high_freq_factor", 4.0);
            s.put("original_max_position_embeddings", 8192);
        } else {
            c.putNull("rope_scaling");
        }
        if (modelType.equals("llama")) {
            c.put("attention_bias", false);
            c.put("mlp_bias", false);
        } else {
            c.put("use_sliding_window", false);
            c.put("sliding_window", maxPositions);
        }
        c.put("tie_word_embeddings", tied);
        c.put("initializer_range", 0.02);
        c.put("bos_token_id", bosId);
        c.put("eos_token_id", eosId);
        c.put("torch_dtype", torchDtype);
        c.put("use_cache", true);
        return c;
    }
}
