package dev.tailor.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.SafetensorsWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Every weight of a model, trained in place (full fine-tuning, for small models). The model must
 * be loaded in fp32: AdamW updates of bf16 weights would round most small steps away. Saved as a
 * complete Hugging Face model directory under the original names (fused products split back).
 */
public final class FullWeights implements TrainableWeights {
    private static final long MAX_SHARD_BYTES = 2L << 30;
    private final Model model;
    private final Map<String, Tensor> parameters;

    private FullWeights(Model model, Map<String, Tensor> parameters) {
        this.model = model;
        this.parameters = parameters;
    }

    /** Makes every weight of {@code model} trainable. */
    public static FullWeights of(Model model) {
        if (model.dtype != DType.F32) {
            throw new TailorException("full fine-tuning needs the model in fp32 (got " + model.dtype.torchName()
                    + "); it is loaded that way by tailor train sft --full");
        }
        Map<String, Tensor> leaves = model.leafWeights();
        leaves.values().forEach(t -> t.set_requires_grad(true));
        return new FullWeights(model, leaves);
    }

    @Override
    public Map<String, Tensor> parameters() {
        return parameters;
    }

    @Override
    public long parameterCount() {
        return model.parameterCount();
    }

    @Override
    public void close() {
        // the weights belong to the model
    }

    /** config.json (dtype as stored in the base) and the weights in that dtype. */
    @Override
    public void save(Path dir) {
        DType stored = "bfloat16".equals(model.config.torchDtype()) ? DType.BF16 : DType.F32;
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> byName = new LinkedHashMap<>();
            model.weightsByName().forEach((name, t) -> byName.put(name, t.detach().to(stored.scalarType()).contiguous()));
            SafetensorsWriter.writeSharded(dir, byName, MAX_SHARD_BYTES);
        }
        ObjectNode config = (ObjectNode) Json.readTree(model.directory.resolve("config.json"));
        config.put("torch_dtype", stored.torchName());
        AtomicFiles.writeString(dir.resolve("config.json"), Json.pretty(config) + "\n");
    }
}
