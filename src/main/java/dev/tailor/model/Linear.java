package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.DropoutMask;
import dev.tailor.tensor.Tensors;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A Hugging Face linear layer (weight [out, in], optional bias) with an optional unmerged LoRA
 * adapter: {@code y = W x + b + scaling * B A dropout(x)}, the adapter path computed in fp32 as
 * PEFT does. A part of a fused product ({@link FusedLinear}) holds no weight of its own: it only
 * names the module and carries its adapter.
 */
public final class Linear implements AutoCloseable {
    final String name;
    private final long in;
    private final long out;
    final BaseWeight weight;
    final Tensor bias;
    private LoraWeights lora;
    private double dropout;

    Linear(String name, long out, long in, BaseWeight weight, Tensor bias) {
        this.name = name;
        this.out = out;
        this.in = in;
        this.weight = weight;
        this.bias = bias;
    }

    /** A module of a fused product: its rows of the fused output, its own adapter, no weight. */
    static Linear part(String name, long out, long in) {
        return new Linear(name, out, in, null, null);
    }

    public long inFeatures() {
        return in;
    }

    public long outFeatures() {
        return out;
    }

    long parameterCount() {
        return weight == null ? 0 : weight.numel() + (bias == null ? 0 : bias.numel());
    }

    /** This layer's dense weight (and bias) under its Hugging Face name. */
    void collectWeights(Map<String, Tensor> out) {
        out.put(name + ".weight", weight.tensor());
        if (bias != null) {
            out.put(name + ".bias", bias);
        }
    }

    long residentBytes() {
        return weight == null ? 0 : weight.residentBytes() + (bias == null ? 0 : bias.nbytes());
    }

    /** Attaches an adapter's weights (owned by the {@link Adapter}), or detaches with null. */
    void setLora(LoraWeights lora) {
        this.lora = lora;
    }

    boolean hasAdapter() {
        return lora != null;
    }

    /** LoRA dropout probability while training; 0 for inference. */
    void setDropout(double p) {
        this.dropout = p;
    }

    /** @param rows per-row adapters of this forward pass, or null for the attached adapter (if any) on every row */
    Tensor forward(Tensor x, RowAdapters rows) {
        return withAdapter(x, Tensors.linear(x, weight.tensor(), bias), rows);
    }

    /**
     * Adds the adapter path to this layer's base output {@code y} for input x [B, ..., in]: the attached
     * adapter's {@code scaling * B A dropout(x)} on every row, or with {@code rows} each row's adapter
     * on its rows of the batch (dimension 0) only.
     */
    Tensor withAdapter(Tensor x, Tensor y, RowAdapters rows) {
        if (rows == null) {
            return lora == null ? y : y.add(delta(x, lora, dropout, y));
        }
        if (lora != null) {
            throw new IllegalStateException(name + ": an attached adapter and per-row adapters in one forward pass");
        }
        Adapter every = rows.everyRow();
        if (every != null) {
            LoraWeights w = every.modules().get(name);
            return w == null ? y : y.add(delta(x, w, 0, y)); // an adapter may leave this layer as it is
        }
        return rows.addMixed(name, x, y);
    }

    /**
     * {@code scaling * B A dropout(x)} computed in fp32 as PEFT does, in y's dtype; the scaling applied
     * to the rank-r intermediate rather than to the output (the same product up to rounding), which
     * spares a pass over [tokens, out] in fp32 forward and backward.
     */
    private static Tensor delta(Tensor x, LoraWeights w, double dropout, Tensor y) {
        Tensor input = x.to(torch.ScalarType.Float);
        if (dropout > 0) {
            input = input.mul(DropoutMask.sample(Tensors.shape(input), dropout, Device.of(input)));
        }
        Tensor reduced = Tensors.linear(input, w.a(), null).mul(Tensors.scalar(w.scaling()));
        return Tensors.linear(reduced, w.b(), null).to(y.scalar_type());
    }

    @Override
    public void close() {
        if (weight != null) {
            weight.close();
        }
        if (bias != null) {
            bias.close();
        }
    }
}
