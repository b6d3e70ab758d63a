package dev.tailor.model;

import org.bytedeco.pytorch.Tensor;

/** One LoRA pair of a linear layer: A [r, in], B [out, r], kept in fp32, and its scaling. */
public record LoraWeights(Tensor a, Tensor b, double scaling) implements AutoCloseable {
    public int rank() {
        return (int) a.size(0);
    }

    @Override
    public void close() {
        a.close();
        b.close();
    }
}
