package dev.tailor.model;

import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A Hugging Face linear layer (weight [out, in], optional bias) with an optional unmerged LoRA
 * adapter: {@code y = W x + b + scaling * B A x}, the adapter path computed in fp32 as PEFT does.
 */
public final class Linear implements AutoCloseable {
    final String name;
    final Tensor weight;
    final Tensor bias;
    private LoraWeights lora;

    Linear(String name, Tensor weight, Tensor bias) {
        this.name = name;
        this.weight = weight;
        this.bias = bias;
    }

    public long inFeatures() {
        return weight.size(1);
    }

    public long outFeatures() {
        return weight.size(0);
    }

    long parameterCount() {
        return weight.numel() + (bias == null ? 0 : bias.numel());
    }

    /** Attaches an adapter's weights (owned by the {@link Adapter}), or detaches with null. */
    void setLora(LoraWeights lora) {
        this.lora = lora;
    }

    Tensor forward(Tensor x) {
        return withAdapter(x, Tensors.linear(x, weight, bias));
    }

    /** Adds the attached adapter's {@code scaling * B A x} to this layer's base output {@code y}. */
    Tensor withAdapter(Tensor x, Tensor y) {
        if (lora == null) {
            return y;
        }
        Tensor delta = Tensors.linear(Tensors.linear(x.to(torch.ScalarType.Float), lora.a(), null), lora.b(), null);
        return y.add(delta.mul(Tensors.scalar(lora.scaling())).to(y.scalar_type()));
    }

    @Override
    public void close() {
        weight.close();
        if (bias != null) {
            bias.close();
        }
    }
}
