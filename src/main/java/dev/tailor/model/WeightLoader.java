package dev.tailor.model;

import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.SafetensorsCheckpoint;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Maps Hugging Face tensor names to the model's parts. Every name, shape and dtype is checked
 * against config.json ({@link ModelConfig#weightShapes}) before any byte is loaded, so a
 * mismatched checkpoint is an error message, never a crash or half-loaded native memory.
 */
final class WeightLoader {
    private final ModelConfig c;
    private final SafetensorsCheckpoint checkpoint;
    private final Path dir;
    private final Device device;
    private final DType dtype;
    private final boolean nf4;

    /** @param nf4 quantize the decoder's linear weights to NF4 (QLoRA); embeddings and norms stay dense */
    WeightLoader(ModelConfig config, SafetensorsCheckpoint checkpoint, Path dir, Device device, DType requested, boolean nf4) {
        this.c = config;
        this.nf4 = nf4;
        this.checkpoint = checkpoint;
        this.dir = dir;
        this.device = device;
        this.dtype = computeDtype(requested);
    }

    private void validate() {
        Map<String, long[]> expected = c.weightShapes();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            String name = e.getKey();
            if (!checkpoint.names().contains(name)) {
                throw new TailorException(dir + ": weight '" + name + "' is missing; the checkpoint does not match config.json ("
                        + c.modelType() + ")");
            }
            long[] actual = checkpoint.entry(name).shape();
            if (!Arrays.equals(actual, e.getValue())) {
                throw new TailorException(dir + ": weight '" + name + "' has shape " + Arrays.toString(actual)
                        + " but config.json implies " + Arrays.toString(e.getValue()) + "; the weights and config.json do not match");
            }
            DType stored = checkpoint.entry(name).dtype();
            if (!stored.isFloatingPoint() || stored == DType.F8_E4M3 || stored == DType.F8_E5M2) {
                throw new TailorException(dir + ": weight '" + name + "' is stored as " + stored.safetensorsName
                        + "; only F32, BF16 and F16 checkpoints are supported (quantized checkpoints are not)");
            }
        }
        Set<String> unexpected = new TreeSet<>(checkpoint.names());
        unexpected.removeAll(expected.keySet());
        unexpected.removeIf(n -> n.endsWith("rotary_emb.inv_freq")); // buffers saved by old transformers versions
        if (c.tieWordEmbeddings()) {
            unexpected.remove("lm_head.weight"); // some tied checkpoints still store a copy; transformers ignores it
        }
        if (!unexpected.isEmpty()) {
            throw new TailorException(dir + ": unexpected weights " + unexpected.stream().limit(5).toList()
                    + (unexpected.size() > 5 ? " and " + (unexpected.size() - 5) + " more" : "")
                    + "; config.json (" + c.modelType() + ", attention_bias=" + c.outputBias() + ", mlp_bias=" + c.mlpBias()
                    + ") does not describe these weights");
        }
    }

    private DType computeDtype(DType requested) {
        if (requested != null) {
            return requested;
        }
        String embed = "model.embed_tokens.weight";
        DType stored = checkpoint.names().contains(embed) ? checkpoint.entry(embed).dtype() : DType.F32;
        // fp16 matmuls on CPU run at ~3 GFLOP/s; fp32 holds every fp16 value exactly
        return stored == DType.BF16 ? DType.BF16 : DType.F32;
    }

    Model load() {
        validate();
        Tensor embedding = tensor("model.embed_tokens.weight");
        DecoderLayer[] layers = new DecoderLayer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            layers[i] = new DecoderLayer(c, i,
                    norm(p + "input_layernorm.weight"),
                    fused(c.qkvBias(), p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"),
                    linear(p + "self_attn.o_proj", c.outputBias()),
                    norm(p + "post_attention_layernorm.weight"),
                    fused(c.mlpBias(), p + "mlp.gate_proj", p + "mlp.up_proj"),
                    linear(p + "mlp.down_proj", c.mlpBias()));
        }
        RmsNorm norm = norm("model.norm.weight");
        Tensor lmHead = c.tieWordEmbeddings() ? embedding : tensor("lm_head.weight");
        return Model.assemble(c, dir, dtype, device, embedding, layers, norm, lmHead);
    }

    private RmsNorm norm(String name) {
        return new RmsNorm(tensor(name), c.rmsNormEps());
    }

    private Linear linear(String module, boolean bias) {
        Tensor w = tensor(module + ".weight");
        long out = w.size(0);
        long in = w.size(1);
        return new Linear(module, out, in, nf4 ? BaseWeight.nf4(w) : BaseWeight.dense(w), bias ? tensor(module + ".bias") : null);
    }

    private FusedLinear fused(boolean bias, String... modules) {
        Tensor[] weights = new Tensor[modules.length];
        Tensor[] biases = bias ? new Tensor[modules.length] : null;
        for (int i = 0; i < modules.length; i++) {
            weights[i] = tensor(modules[i] + ".weight");
            if (bias) {
                biases[i] = tensor(modules[i] + ".bias");
            }
        }
        return FusedLinear.of(modules, weights, biases, nf4);
    }

    /** Loads one validated weight in the compute dtype, owned by the model from here. */
    private Tensor tensor(String name) {
        try (PointerScope scope = new PointerScope()) {
            Tensor t = checkpoint.load(name, dtype).to(device.torchDevice(), dtype.scalarType());
            return Tensors.keep(t);
        }
    }
}
