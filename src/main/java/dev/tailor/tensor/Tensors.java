package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * The project's thin facade over the Bytedeco libtorch bindings: readable call sites without the
 * Scalar/Optional wrapping noise, and only the constructors known to be safe (ENGINE-NOTES.md).
 * Every tensor returned is owned by the caller's PointerScope (or by the caller when no scope is open).
 */
public final class Tensors {
    private Tensors() {}

    /**
     * Takes a long-lived tensor (weights, caches) out of the innermost PointerScope so that it
     * survives the scope; its owner must close it.
     */
    public static Tensor keep(Tensor t) {
        PointerScope scope = PointerScope.getInnerScope();
        if (scope != null) {
            t.retainReference(); // detach() releases the scope's reference, which would free the tensor
            scope.detach(t);
        }
        return t;
    }

    public static Scalar scalar(double value) {
        return new Scalar(value);
    }

    public static TensorOptions options(DType dtype, Device device) {
        return new TensorOptions(dtype.scalarType()).device(new DeviceOptional(device.torchDevice()));
    }

    public static long[] shape(Tensor t) {
        return t.sizes().vec().get();
    }

    /** Throws where the gradient handed to a hand-written backward pass is not shaped as the output it belongs to. */
    static void requireGradientShape(String of, Tensor out, Tensor gradient) {
        if (!Arrays.equals(shape(out), shape(gradient))) {
            throw new IllegalArgumentException("the gradient of " + of + " " + Arrays.toString(shape(out)) + " has shape "
                    + Arrays.toString(shape(gradient)));
        }
    }

    /** Whether t has {@code dtype}: unlike {@link #dtype}, false (not an error) for types Tailor has no name for. */
    public static boolean is(Tensor t, DType dtype) {
        return t.scalar_type().value == dtype.scalarType().value; // JavaCPP returns fresh enum objects
    }

    public static DType dtype(Tensor t) {
        return DType.of(t.scalar_type());
    }

    /** Copies Java floats into a new CPU tensor of the given shape. */
    public static Tensor fromFloats(float[] data, long... shape) {
        try (FloatPointer p = new FloatPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Float)).clone();
        }
    }

    /** Copies Java longs into a new CPU int64 tensor of the given shape. */
    public static Tensor fromLongs(long[] data, long... shape) {
        try (LongPointer p = new LongPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(torch.ScalarType.Long)).clone();
        }
    }

    /** Copies raw little-endian bytes of the given dtype (e.g. a safetensors payload) into a new CPU tensor. */
    public static Tensor fromBytes(Pointer bytes, DType dtype, long... shape) {
        return torch.from_blob(bytes, shape, new TensorOptions(dtype.scalarType())).clone();
    }

    public static float[] toFloats(Tensor t) {
        Tensor f = t.to(new org.bytedeco.pytorch.Device(torch.DeviceType.CPU), torch.ScalarType.Float).contiguous();
        float[] out = new float[(int) f.numel()];
        if (out.length > 0) { // an empty tensor has no data pointer
            f.data_ptr_float().get(out);
        }
        return out;
    }

    public static long[] toLongs(Tensor t) {
        Tensor l = t.to(new org.bytedeco.pytorch.Device(torch.DeviceType.CPU), torch.ScalarType.Long).contiguous();
        long[] out = new long[(int) l.numel()];
        if (out.length > 0) {
            l.data_ptr_long().get(out);
        }
        return out;
    }

    public static Tensor zeros(DType dtype, Device device, long... shape) {
        return torch.zeros(shape, options(dtype, device));
    }

    /** {@code 0, 1, ..., n-1} as int64 on the device. */
    public static Tensor arange(long n, Device device) {
        return torch.arange(scalar(n), options(DType.I64, device));
    }

    /**
     * {@code x @ w^T + bias}, weights laid out [out, in] as in Hugging Face checkpoints; bias may be null.
     * Leading dimensions are flattened first: a one-row view such as the last position of a prompt
     * keeps its parent's strides, and libtorch then took a path 70x slower for the same product.
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        if (Bf16Gemv.supports(x, weight, bias)) {
            return Bf16Gemv.linear(x, weight, bias); // decoding: bf16, a few rows, no autograd
        }
        long[] shape = shape(x);
        Tensor rows = x.reshape(-1, shape[shape.length - 1]);
        Tensor y = bias == null ? torch.linear(rows, weight) : torch.linear(rows, weight, new TensorOptional(bias));
        shape[shape.length - 1] = weight.size(0);
        return y.view(shape);
    }

    /**
     * Scaled dot-product attention over [batch, heads, seq, head_dim] tensors. {@code allowed} is a
     * boolean mask broadcastable to [batch, heads, q_len, kv_len] (true = may attend); key/value may
     * have fewer heads than the query (grouped-query attention).
     */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, Tensor allowed, double scale) {
        if (q.size(2) == 1) {
            return singleQueryAttention(q, k, v, allowed, scale);
        }
        // fp32 with k/v repeated per query head: libtorch's CPU SDPA measured 30 ms there against 112 ms
        // in bf16 with enable_gqa (4 x 512 tokens, Qwen2.5-0.5B's heads), and 126 against 300 ms with backward
        long groups = q.size(1) / k.size(1);
        Tensor out = torch.scaled_dot_product_attention(q.to(torch.ScalarType.Float), repeatHeads(k, groups),
                repeatHeads(v, groups), new TensorOptional(allowed), 0.0, false, new DoubleOptional(scale), false);
        return out.to(q.scalar_type());
    }

    /** [B, kvHeads, T, D] -> [B, kvHeads * groups, T, D] in fp32, each kv head repeated for its query heads. */
    private static Tensor repeatHeads(Tensor kv, long groups) {
        Tensor f = kv.to(torch.ScalarType.Float);
        return groups == 1 ? f : f.repeat_interleave(groups, new LongOptional(1), new LongOptional());
    }

    /**
     * Decoding's one-query attention as two grouped matmuls: SDPA's fixed cost per call was about
     * 0.6 ms here, more than the work itself, and decoding pays it once per layer per token.
     * Softmax runs in fp32 as in transformers' eager attention.
     */
    private static Tensor singleQueryAttention(Tensor q, Tensor k, Tensor v, Tensor allowed, double scale) {
        long b = q.size(0);
        long heads = q.size(1);
        long kvHeads = k.size(1);
        long d = q.size(3);
        Tensor grouped = q.reshape(b, kvHeads, heads / kvHeads, d);
        Tensor scores = grouped.matmul(k.transpose(2, 3)).to(torch.ScalarType.Float).mul(scalar(scale));
        scores.masked_fill_(allowed.logical_not(), scalar(Double.NEGATIVE_INFINITY));
        Tensor weights = scores.softmax(-1).to(q.scalar_type());
        return weights.matmul(v).reshape(b, heads, 1, d);
    }

    public static Tensor cat(long dim, Tensor... tensors) {
        TensorVector list = new TensorVector(tensors);
        return torch.cat(list, dim);
    }
}
