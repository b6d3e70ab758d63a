package dev.tailor.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The architecture hyper-parameters of a Hugging Face {@code config.json} for the Llama family
 * (Llama 2/3/3.1/3.2, Qwen2/2.5, Mistral, SmolLM2), read with transformers' defaults and validated
 * so that an unsupported option is an error naming it rather than a silently wrong model.
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        RopeScaling rope,
        int maxPositionEmbeddings,
        Integer slidingWindow,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean mlpBias,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        Integer padTokenId,
        String torchDtype) {

    static final Set<String> SUPPORTED_TYPES = Set.of("llama", "qwen2", "mistral");

    public static ModelConfig load(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!file.toFile().isFile()) {
            throw new TailorException(modelDir + ": no config.json; point --model at a Hugging Face model directory");
        }
        return parse(Json.readTree(file), file.toString());
    }

    public static ModelConfig parse(JsonNode c, String source) {
        Fields f = new Fields(c, source);
        String type = f.requiredString("model_type");
        if (!SUPPORTED_TYPES.contains(type)) {
            throw new TailorException(source + ": model_type '" + type + "' is not supported; Tailor runs "
                    + String.join(", ", SUPPORTED_TYPES.stream().sorted().toList()) + " (Llama family) models");
        }
        String act = f.optString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new TailorException(source + ": hidden_act '" + act + "' is not supported; only silu (SwiGLU) models run");
        }
        int hidden = f.positiveInt("hidden_size");
        int heads = f.positiveInt("num_attention_heads");
        int kvHeads = c.hasNonNull("num_key_value_heads") ? f.positiveInt("num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw new TailorException(source + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = c.hasNonNull("head_dim") ? f.positiveInt("head_dim") : hidden / heads;
        if (!c.hasNonNull("head_dim") && hidden % heads != 0) {
            throw new TailorException(source + ": hidden_size " + hidden + " is not divisible by num_attention_heads " + heads + "; set head_dim");
        }
        if (headDim % 2 != 0) {
            throw new TailorException(source + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        boolean qwen2 = type.equals("qwen2");
        boolean attentionBias = c.path("attention_bias").asBoolean(false);
        Integer sliding = slidingWindow(c, type);
        return new ModelConfig(type, f.positiveInt("vocab_size"), hidden, f.positiveInt("intermediate_size"),
                f.positiveInt("num_hidden_layers"), heads, kvHeads, headDim,
                c.path("rms_norm_eps").asDouble(1e-6), RopeScaling.parse(c, headDim, source),
                c.path("max_position_embeddings").asInt(2048), sliding,
                c.path("tie_word_embeddings").asBoolean(false),
                qwen2 || attentionBias, attentionBias, c.path("mlp_bias").asBoolean(false),
                f.optInt("bos_token_id"), eosIds(c.get("eos_token_id")), f.optInt("pad_token_id"),
                f.optString("torch_dtype", f.optString("dtype", null)));
    }

    /** Mistral and Qwen2 may declare a sliding window; only then does it limit attention. */
    private static Integer slidingWindow(JsonNode c, String type) {
        if (!c.hasNonNull("sliding_window")) {
            return null;
        }
        if (type.equals("qwen2") && !c.path("use_sliding_window").asBoolean(false)) {
            return null;
        }
        return c.get("sliding_window").asInt();
    }

    static List<Integer> eosIds(JsonNode node) {
        List<Integer> ids = new ArrayList<>();
        if (node == null || node.isNull()) {
            return ids;
        }
        if (node.isArray()) {
            node.forEach(n -> ids.add(n.asInt()));
        } else {
            ids.add(node.asInt());
        }
        return ids;
    }

    /** The longest sequence this model computes exactly: positions it was built for, within any sliding window. */
    public int contextLength() {
        return slidingWindow == null ? maxPositionEmbeddings : Math.min(maxPositionEmbeddings, slidingWindow);
    }

    /** Every tensor of the architecture with its Hugging Face name and [out, in] shape, in a fixed order. */
    public Map<String, long[]> weightShapes() {
        Map<String, long[]> s = new LinkedHashMap<>();
        long h = hiddenSize();
        long q = (long) numHeads() * headDim();
        long kv = (long) numKvHeads() * headDim();
        long inter = intermediateSize();
        s.put("model.embed_tokens.weight", new long[] {vocabSize(), h});
        for (int i = 0; i < numLayers(); i++) {
            String p = "model.layers." + i + ".";
            s.put(p + "input_layernorm.weight", new long[] {h});
            for (String name : List.of("q_proj", "k_proj", "v_proj")) {
                long out = name.equals("q_proj") ? q : kv;
                s.put(p + "self_attn." + name + ".weight", new long[] {out, h});
                if (qkvBias()) {
                    s.put(p + "self_attn." + name + ".bias", new long[] {out});
                }
            }
            s.put(p + "self_attn.o_proj.weight", new long[] {h, q});
            if (outputBias()) {
                s.put(p + "self_attn.o_proj.bias", new long[] {h});
            }
            s.put(p + "post_attention_layernorm.weight", new long[] {h});
            for (String name : List.of("gate_proj", "up_proj", "down_proj")) {
                long[] shape = name.equals("down_proj") ? new long[] {h, inter} : new long[] {inter, h};
                s.put(p + "mlp." + name + ".weight", shape);
                if (mlpBias()) {
                    s.put(p + "mlp." + name + ".bias", new long[] {shape[0]});
                }
            }
        }
        s.put("model.norm.weight", new long[] {h});
        if (!tieWordEmbeddings()) {
            s.put("lm_head.weight", new long[] {vocabSize(), h});
        }
        return s;
    }

    /** Reads typed fields with errors that name the file and the field. */
    private record Fields(JsonNode c, String source) {
        String requiredString(String name) {
            JsonNode n = c.get(name);
            if (n == null || !n.isTextual()) {
                throw new TailorException(source + ": missing string field '" + name + "'");
            }
            return n.asText();
        }

        String optString(String name, String fallback) {
            JsonNode n = c.get(name);
            return n == null || n.isNull() ? fallback : n.asText();
        }

        int positiveInt(String name) {
            JsonNode n = c.get(name);
            if (n == null || !n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() <= 0) {
                throw new TailorException(source + ": field '" + name + "' must be a positive integer, found " + n);
            }
            return n.asInt();
        }

        Integer optInt(String name) {
            JsonNode n = c.get(name);
            if (n == null || n.isNull()) {
                return null;
            }
            if (n.isArray()) {
                return n.size() == 0 ? null : n.get(0).asInt();
            }
            return n.asInt();
        }
    }
}
