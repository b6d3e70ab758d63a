package dev.tailor.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.SafetensorsWriter;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Writes a Hugging Face model directory (config.json, generation_config.json, model.safetensors)
 * with seeded random weights: normal(0, 0.02) as transformers initialises, norms at one.
 */
public final class RandomModelWriter {
    private static final double INIT_STD = 0.02;

    private RandomModelWriter() {}

    public static void write(Path dir, ModelPreset preset, long seed, DType dtype, int bosId, int eosId, int padId) {
        ObjectNode config = preset.configJson(dtype.torchName(), bosId, eosId);
        ModelConfig parsed = ModelConfig.parse(config, preset.id);
        ObjectNode generation = Json.MAPPER.createObjectNode();
        generation.put("bos_token_id", bosId);
        generation.putArray("eos_token_id").add(eosId);
        generation.put("pad_token_id", padId);
        generation.put("do_sample", false);
        generation.put("max_new_tokens", 256);
        torch.manual_seed(seed);
        Map<String, Tensor> weights = new TreeMap<>();
        try {
            for (Map.Entry<String, long[]> e : parsed.weightShapes().entrySet()) {
                weights.put(e.getKey(), randomWeight(e.getKey(), e.getValue(), dtype));
            }
            SafetensorsWriter.write(dir.resolve("model.safetensors"), weights, Map.of());
        } finally {
            weights.values().forEach(Tensor::close);
        }
        AtomicFiles.writeString(dir.resolve("generation_config.json"), Json.pretty(generation) + "\n");
        AtomicFiles.writeString(dir.resolve("config.json"), Json.pretty(config) + "\n");
    }

    /** One weight in its final dtype; the fp32 draw is freed at once so peak memory stays near the model's size. */
    private static Tensor randomWeight(String name, long[] shape, DType dtype) {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = name.endsWith("norm.weight") ? torch.ones(shape) : torch.randn(shape).mul(Tensors.scalar(INIT_STD));
            return Tensors.keep(t.to(dtype.scalarType()));
        }
    }
}
