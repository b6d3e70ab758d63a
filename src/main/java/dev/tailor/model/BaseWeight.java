package dev.tailor.model;

import dev.tailor.tensor.DType;
import dev.tailor.tensor.Nf4Tensor;
import dev.tailor.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A weight of the base model: dense in the compute dtype, or NF4 for QLoRA (4-bit codes with
 * double-quantized absmax, dequantized into a temporary for each product so the model keeps
 * about half a byte per parameter). LoRA training leaves it frozen; full fine-tuning trains the
 * dense tensor in place.
 */
final class BaseWeight implements AutoCloseable {
    private final Tensor dense;
    private final Nf4Tensor quantized;
    private final DType dtype;

    private BaseWeight(Tensor dense, Nf4Tensor quantized, DType dtype) {
        this.dense = dense;
        this.quantized = quantized;
        this.dtype = dtype;
    }

    static BaseWeight dense(Tensor weight) {
        return new BaseWeight(weight, null, Tensors.dtype(weight));
    }

    /** Quantizes {@code weight} and closes it: only the 4-bit form stays resident. */
    static BaseWeight nf4(Tensor weight) {
        DType dtype = Tensors.dtype(weight);
        try (PointerScope scope = new PointerScope()) {
            Nf4Tensor q = Nf4Tensor.quantize(weight);
            weight.close();
            return new BaseWeight(null, q, dtype);
        }
    }

    /** The weight in the compute dtype: the tensor itself, or a dequantized temporary of the caller's scope. */
    Tensor tensor() {
        return dense != null ? dense : quantized.dequantize(dtype);
    }

    boolean isQuantized() {
        return quantized != null;
    }

    long numel() {
        return dense != null ? dense.numel() : quantized.numel();
    }

    long residentBytes() {
        return dense != null ? dense.nbytes() : quantized.residentBytes();
    }

    @Override
    public void close() {
        if (dense != null) {
            dense.close();
        } else {
            quantized.close();
        }
    }
}
