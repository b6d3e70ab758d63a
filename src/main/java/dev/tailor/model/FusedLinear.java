package dev.tailor.model;

import dev.tailor.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Linear layers that read the same input (q/k/v, gate/up) computed as one matrix product, as vLLM
 * fuses them: decoding streams one large matrix instead of several small ones, each of which paid
 * a fixed cost per call. Each part stays a {@link Linear} with its Hugging Face name and its own
 * LoRA adapter; its weight is a view into the fused matrix.
 */
final class FusedLinear implements AutoCloseable {
    final Linear[] parts;
    private final Tensor weight;
    private final Tensor bias;

    private FusedLinear(Linear[] parts, Tensor weight, Tensor bias) {
        this.parts = parts;
        this.weight = weight;
        this.bias = bias;
    }

    /** Takes ownership of the given weights (and biases: all or none), replacing them by views. */
    static FusedLinear of(String[] names, Tensor[] weights, Tensor[] biases) {
        try (PointerScope scope = new PointerScope()) {
            Tensor weight = Tensors.keep(Tensors.cat(0, weights));
            Tensor bias = biases == null ? null : Tensors.keep(Tensors.cat(0, biases));
            Linear[] parts = new Linear[names.length];
            long offset = 0;
            for (int i = 0; i < names.length; i++) {
                long rows = weights[i].size(0);
                parts[i] = new Linear(names[i], Tensors.keep(weight.narrow(0, offset, rows)),
                        bias == null ? null : Tensors.keep(bias.narrow(0, offset, rows)));
                offset += rows;
                weights[i].close();
                if (biases != null) {
                    biases[i].close();
                }
            }
            return new FusedLinear(parts, weight, bias);
        }
    }

    /** Each part's output for input x, with each part's adapter applied. */
    Tensor[] forward(Tensor x) {
        Tensor y = Tensors.linear(x, weight, bias);
        Tensor[] out = new Tensor[parts.length];
        long offset = 0;
        for (int i = 0; i < parts.length; i++) {
            long rows = parts[i].outFeatures();
            out[i] = parts[i].withAdapter(x, y.narrow(-1, offset, rows));
            offset += rows;
        }
        return out;
    }

    @Override
    public void close() {
        for (Linear part : parts) {
            part.close();
        }
        weight.close();
        if (bias != null) {
            bias.close();
        }
    }
}
