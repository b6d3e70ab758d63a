package dev.tailor.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;

/**
 * Rotary position embedding frequencies exactly as transformers computes them
 * ({@code ROPE_INIT_FUNCTIONS}): default, linear and llama3 scaling. Reads both the classic
 * {@code rope_theta} + {@code rope_scaling} keys and transformers v5's {@code rope_parameters}.
 */
public record RopeScaling(String type, double theta, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositions) {

    static RopeScaling parse(JsonNode config, int headDim, String source) {
        JsonNode params = config.get("rope_parameters");
        JsonNode scaling = config.get("rope_scaling");
        double theta = config.path("rope_theta").asDouble(10000.0);
        if (params != null && params.isObject()) {
            theta = params.path("rope_theta").asDouble(theta);
            scaling = params;
        }
        if (scaling == null || scaling.isNull()) {
            return new RopeScaling("default", theta, 1, 0, 0, 0);
        }
        String type = scaling.hasNonNull("rope_type") ? scaling.get("rope_type").asText() : scaling.path("type").asText("default");
        switch (type) {
            case "default":
                return new RopeScaling("default", theta, 1, 0, 0, 0);
            case "linear":
                return new RopeScaling("linear", theta, positive(scaling, "factor", source), 0, 0, 0);
            case "llama3": {
                double low = positive(scaling, "low_freq_factor", source);
                double high = positive(scaling, "high_freq_factor", source);
                if (high <= low) {
                    throw new TailorException(source + ": rope_scaling.high_freq_factor must exceed low_freq_factor");
                }
                int orig = (int) positive(scaling, "original_max_position_embeddings", source);
                return new RopeScaling("llama3", theta, positive(scaling, "factor", source), low, high, orig);
            }
            default:
                throw new TailorException(source + ": rope_scaling type '" + type
                        + "' is not supported; supported: default, linear, llama3");
        }
    }

    private static double positive(JsonNode node, String name, String source) {
        JsonNode n = node.get(name);
        if (n == null || !n.isNumber() || n.asDouble() <= 0) {
            throw new TailorException(source + ": rope scaling field '" + name + "' must be a positive number, found " + n);
        }
        return n.asDouble();
    }

    /** inv_freq[i] = theta^(-2i/d), then scaled (transformers _compute_llama3_parameters / linear). */
    public double[] inverseFrequencies(int headDim) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        if (type.equals("linear")) {
            for (int i = 0; i < inv.length; i++) {
                inv[i] /= factor;
            }
        } else if (type.equals("llama3")) {
            double lowWavelen = originalMaxPositions / lowFreqFactor;
            double highWavelen = originalMaxPositions / highFreqFactor;
            for (int i = 0; i < inv.length; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowWavelen) {
                    inv[i] = inv[i] / factor;
                } else if (wavelen >= highWavelen) {
                    double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
