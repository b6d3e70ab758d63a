package dev.tailor.model;

import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/** One LoRA pair of a linear layer: A [r, in], B [out, r], kept in fp32, and its scaling. */
public record LoraWeights(Tensor a, Tensor b, double scaling) implements AutoCloseable {
    public int rank() {
        return (int) a.size(0);
    }

    /** {@code scaling * B @ A} [out, in] in fp32, outside autograd: what merging adds to the base weight (as PEFT computes it). */
    public Tensor delta() {
        return b.detach().matmul(a.detach()).mul(Tensors.scalar(scaling));
    }

    @Override
    public void close() {
        a.close();
        b.close();
    }
}
