package dev.tailor.model;

import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Linear layers that read the same input (q/k/v, gate/up) computed as one matrix product, as vLLM
 * fuses them: decoding streams one large matrix instead of several small ones, each of which paid
 * a fixed cost per call. Each part stays a {@link Linear} with its Hugging Face name and its own
 * LoRA adapter.
 */
final class FusedLinear implements AutoCloseable {
    final Linear[] parts;
    private final BaseWeight weight;
    private final Tensor bias;

    private FusedLinear(Linear[] parts, BaseWeight weight, Tensor bias) {
        this.parts = parts;
        this.weight = weight;
        this.bias = bias;
    }

    /**
     * Takes ownership of the given weights (and biases: all or none) and concatenates them; with
     * {@code nf4} the fused matrix is quantized and the 16-bit copy freed.
     */
    static FusedLinear of(String[] names, Tensor[] weights, Tensor[] biases, boolean nf4) {
        try (PointerScope scope = new PointerScope()) {
            Tensor fused = Tensors.keep(Tensors.cat(0, weights));
            Tensor bias = biases == null ? null : Tensors.keep(Tensors.cat(0, biases));
            Linear[] parts = new Linear[names.length];
            for (int i = 0; i < names.length; i++) {
                parts[i] = Linear.part(names[i], weights[i].size(0), weights[i].size(1));
                weights[i].close();
                if (biases != null) {
                    biases[i].close();
                }
            }
            return new FusedLinear(parts, nf4 ? BaseWeight.nf4(fused) : BaseWeight.dense(fused), bias);
        }
    }

    /**
     * Each part's weight (and bias) as a view under its Hugging Face name, or with {@code fusedAsOne}
     * the fused tensors themselves, named after the first part.
     */
    void collectWeights(Map<String, Tensor> out, boolean fusedAsOne) {
        Tensor w = weight.tensor();
        if (fusedAsOne) {
            out.put(parts[0].name + "_fused.weight", w);
            if (bias != null) {
                out.put(parts[0].name + "_fused.bias", bias);
            }
            return;
        }
        long offset = 0;
        for (Linear part : parts) {
            long rows = part.outFeatures();
            out.put(part.name + ".weight", w.narrow(0, offset, rows));
            if (bias != null) {
                out.put(part.name + ".bias", bias.narrow(0, offset, rows));
            }
            offset += rows;
        }
    }

    long parameterCount() {
        return weight.numel() + (bias == null ? 0 : bias.numel());
    }

    long residentBytes() {
        return weight.residentBytes() + (bias == null ? 0 : bias.nbytes());
    }

    /** Each part's output for input x, with each part's adapter (or each row's, see {@link Linear#forward}) applied. */
    Tensor[] forward(Tensor x, RowAdapters rows) {
        Tensor y = Tensors.linear(x, weight.tensor(), bias);
        if (rows != null && rows.usesBank()) { // a decoding batch's adapters from the bank: added for all parts at once
            return split(rows.addMixed(parts[0].name, x, y));
        }
        // the parts' adapters read x in fp32: convert once for all of them (a no-op where it is fp32)
        boolean adapted = rows == null ? Arrays.stream(parts).anyMatch(Linear::hasAdapter) : !rows.isEmpty();
        Tensor loraInput = adapted ? x.to(ScalarType.Float) : x;
        Tensor[] out = split(y);
        for (int i = 0; i < parts.length; i++) {
            out[i] = parts[i].withAdapter(loraInput, out[i], rows);
        }
        return out;
    }

    /**
     * The parts' outputs (adapters applied) side by side, [..., sum of the parts' widths]: the fused
     * product's output itself where no part has an adapter, so that its gradient arrives in one piece.
     */
    Tensor forwardJoined(Tensor x) {
        if (Arrays.stream(parts).noneMatch(Linear::hasAdapter)) {
            return Tensors.linear(x, weight.tensor(), bias);
        }
        return Tensors.cat(-1, forward(x, null));
    }

    /** Views of y's column blocks, one per part; split_with_sizes (unlike narrow) sends their gradients back as one cat, not a zero-filled copy per part. */
    private Tensor[] split(Tensor y) {
        long[] sizes = Arrays.stream(parts).mapToLong(Linear::outFeatures).toArray();
        TensorVector views = y.split_with_sizes(sizes, -1);
        Tensor[] out = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = views.get(i);
        }
        return out;
    }

    @Override
    public void close() {
        weight.close();
        if (bias != null) {
            bias.close();
        }
    }
}
