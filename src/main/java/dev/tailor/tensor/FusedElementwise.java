package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * A decoder layer's element-wise steps at inference on a native kernel ({@link ElementwiseKernel}),
 * one pass each: RMSNorm, which libtorch ran as 8 ops, the MLP's silu(gate) * up, and the rotary
 * position embedding (6 ops for each of q and k). Inputs that need gradients, or live on a GPU,
 * stay with libtorch's ops (callers check {@code supports...} first); training runs the first two
 * with backward passes of their own ({@link TrainingRmsNorm}, {@link TrainingSiluMul}). Rows are
 * split across {@link KernelThreads} when there are many (a prompt).
 */
public final class FusedElementwise {
    private static final boolean NATIVE = NativeKernels.load(ElementwiseKernel::load);
    /** Rows per chunk where rows are split: a worker that wakes late then holds up little. */
    private static final int CHUNK_ROWS = 16;

    private FusedElementwise() {}

    /** Whether {@link #rmsNorm} covers x [..., n] with weight [n]: CPU, both bf16 or both fp32, contiguous, no gradients. */
    public static boolean supportsRmsNorm(Tensor x, Tensor weight) {
        return rmsNormFits(x, weight) && !x.requires_grad() && !weight.requires_grad();
    }

    /** {@link #supportsRmsNorm} without the condition on gradients, for {@link TrainingRmsNorm}, which brings its own backward. */
    static boolean rmsNormFits(Tensor x, Tensor weight) {
        return NATIVE && x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1) && x.numel() > 0
                && x.is_cpu() && weight.is_cpu() && NativeKernels.sameFloatType(x, weight) && x.is_contiguous() && weight.is_contiguous();
    }

    /**
     * transformers' LlamaRMSNorm, {@code weight * (x * rsqrt(mean(x^2, -1) + eps))} with the
     * normalised x held in x's dtype before the product, as a new tensor of x's shape.
     */
    public static Tensor rmsNorm(Tensor x, Tensor weight, double eps) {
        return rmsNorm(x, weight, eps, 0);
    }

    /** {@link #rmsNorm}, each row's {@code rsqrt(mean(x^2) + eps)} also stored (fp32) at {@code rstd} unless it is 0. */
    static Tensor rmsNorm(Tensor x, Tensor weight, double eps, long rstd) {
        long n = x.size(-1);
        long rows = x.numel() / n;
        Tensor out = torch.empty_like(x);
        long xa = x.data_ptr().address();
        long wa = weight.data_ptr().address();
        long oa = out.data_ptr().address();
        boolean bf16 = Tensors.is(x, DType.BF16);
        float e = (float) eps;
        KernelThreads.forEachRange(rows, CHUNK_ROWS, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.rmsNormBf16(xa, wa, n, e, oa, rstd, begin, end);
            } else {
                ElementwiseKernel.rmsNormF32(xa, wa, n, e, oa, rstd, begin, end);
            }
        });
        return out;
    }

    /** RMSNorm's gradient of x from dy (x's shape and dtype, contiguous) and the forward pass's rstd: see {@link TrainingRmsNorm}. */
    static Tensor rmsNormBackward(Tensor dy, Tensor x, Tensor weight, Tensor rstd) {
        long n = x.size(-1);
        long rows = x.numel() / n;
        Tensor dx = torch.empty_like(x);
        long da = dy.data_ptr().address();
        long xa = x.data_ptr().address();
        long wa = weight.data_ptr().address();
        long ra = rstd.data_ptr().address();
        long oa = dx.data_ptr().address();
        boolean bf16 = Tensors.is(x, DType.BF16);
        KernelThreads.forEachRange(rows, CHUNK_ROWS, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.rmsNormBackwardBf16(da, xa, wa, ra, n, oa, begin, end);
            } else {
                ElementwiseKernel.rmsNormBackwardF32(da, xa, wa, ra, n, oa, begin, end);
            }
        });
        return dx;
    }

    /**
     * Whether {@link #siluMul} covers gate and up of one shape [..., n]: CPU, both bf16 or both fp32,
     * no gradients, each a matrix of rows with contiguous entries (as the parts of a fused product's output are).
     */
    public static boolean supportsSiluMul(Tensor gate, Tensor up) {
        return siluMulFits(gate, up) && !gate.requires_grad() && !up.requires_grad();
    }

    /** {@link #supportsSiluMul} without the condition on gradients, for {@link TrainingSiluMul}, which brings its own backward. */
    static boolean siluMulFits(Tensor gate, Tensor up) {
        return NATIVE && gate.dim() >= 1 && gate.numel() > 0 && Arrays.equals(Tensors.shape(gate), Tensors.shape(up))
                && gate.is_cpu() && up.is_cpu() && NativeKernels.sameFloatType(gate, up) && rowStride(gate) > 0 && rowStride(up) > 0;
    }

    /** {@code silu(gate) * up} with silu(gate) held in the dtype before the product, as a new contiguous tensor. */
    public static Tensor siluMul(Tensor gate, Tensor up) {
        long n = gate.size(-1);
        long rows = gate.numel() / n;
        long gRow = rowStride(gate);
        long uRow = rowStride(up);
        Tensor out = torch.empty(Tensors.shape(gate), new TensorOptions(gate.scalar_type()), new MemoryFormatOptional());
        long ga = gate.data_ptr().address();
        long ua = up.data_ptr().address();
        long oa = out.data_ptr().address();
        boolean bf16 = Tensors.is(gate, DType.BF16);
        KernelThreads.forEachRange(rows, CHUNK_ROWS, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.siluMulBf16(ga, gRow, ua, uRow, n, oa, begin, end);
            } else {
                ElementwiseKernel.siluMulF32(ga, gRow, ua, uRow, n, oa, begin, end);
            }
        });
        return out;
    }

    /**
     * silu(gate) * up's backward from dout (gate's shape and dtype, contiguous): the gradients of gate and
     * up side by side in one new tensor [..., 2n], as the gradient of a fused gate/up product's output is laid out.
     */
    static Tensor siluMulBackward(Tensor gate, Tensor up, Tensor dout) {
        long n = gate.size(-1);
        long rows = gate.numel() / n;
        long[] shape = Tensors.shape(gate);
        shape[shape.length - 1] = 2 * n;
        Tensor dgu = torch.empty(shape, new TensorOptions(gate.scalar_type()), new MemoryFormatOptional());
        long gRow = rowStride(gate);
        long uRow = rowStride(up);
        long ga = gate.data_ptr().address();
        long ua = up.data_ptr().address();
        long da = dout.data_ptr().address();
        long oa = dgu.data_ptr().address();
        boolean bf16 = Tensors.is(gate, DType.BF16);
        KernelThreads.forEachRange(rows, CHUNK_ROWS, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.siluMulBackwardBf16(ga, gRow, ua, uRow, da, n, oa, begin, end);
            } else {
                ElementwiseKernel.siluMulBackwardF32(ga, gRow, ua, uRow, da, n, oa, begin, end);
            }
        });
        return dgu;
    }

    /**
     * Whether {@link #rotary} covers x [B, heads, T, d] with cos and sin [B or 1, 1, T, d]: CPU, one
     * dtype (bf16 or fp32), no gradients, d even, the last dimension contiguous, cos and sin laid out alike.
     */
    public static boolean supportsRotary(Tensor x, Tensor cos, Tensor sin) {
        if (!NATIVE || x.dim() != 4 || cos.dim() != 4 || sin.dim() != 4 || x.numel() == 0) {
            return false;
        }
        long d = x.size(3);
        boolean shapes = d % 2 == 0 && Arrays.equals(Tensors.shape(cos), Tensors.shape(sin))
                && (cos.size(0) == x.size(0) || cos.size(0) == 1) && cos.size(1) == 1 && cos.size(2) == x.size(2) && cos.size(3) == d;
        boolean strides = x.stride(3) == 1 && cos.stride(3) == 1 && sin.stride(3) == 1 && cos.stride(0) == sin.stride(0)
                && cos.stride(2) == sin.stride(2);
        return shapes && strides && onCpuWithoutGrad(x) && onCpuWithoutGrad(cos) && onCpuWithoutGrad(sin)
                && NativeKernels.sameFloatType(x, cos, sin);
    }

    /**
     * transformers' {@code x * cos + rotate_half(x) * sin} (rotate_half = cat(-x2, x1) over the halves
     * of head_dim), each product and the sum held in the dtype, as a new tensor [B, heads, T, d] laid
     * out [B, T, heads, d], as libtorch's ops lay it out for x, a transposed view of a projection.
     */
    public static Tensor rotary(Tensor x, Tensor cos, Tensor sin) {
        long b = x.size(0);
        long heads = x.size(1);
        long t = x.size(2);
        long d = x.size(3);
        Tensor out = torch.empty(new long[] {b, t, heads, d}, new TensorOptions(x.scalar_type()), new MemoryFormatOptional());
        long xa = x.data_ptr().address();
        long ca = cos.data_ptr().address();
        long sa = sin.data_ptr().address();
        long oa = out.data_ptr().address();
        long xb = x.stride(0);
        long xh = x.stride(1);
        long xt = x.stride(2);
        long cb = cos.size(0) == 1 ? 0 : cos.stride(0); // one table for every batch row
        long ct = cos.stride(2);
        boolean bf16 = Tensors.is(x, DType.BF16);
        KernelThreads.forEachRange(b * t, CHUNK_ROWS, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.rotaryBf16(xa, xb, xh, xt, ca, sa, cb, ct, heads, t, d, oa, begin, end);
            } else {
                ElementwiseKernel.rotaryF32(xa, xb, xh, xt, ca, sa, cb, ct, heads, t, d, oa, begin, end);
            }
        });
        return out.transpose(1, 2);
    }

    private static boolean onCpuWithoutGrad(Tensor t) {
        return t.is_cpu() && !t.requires_grad();
    }

    /**
     * The distance in elements between consecutive rows of t seen as [rows, n] with contiguous
     * entries, or -1 where its leading dimensions do not line up as one run of rows.
     */
    private static long rowStride(Tensor t) {
        int dims = (int) t.dim();
        long n = t.size(dims - 1);
        if (t.stride(dims - 1) != 1 && n > 1) {
            return -1;
        }
        long row = -1; // from the innermost leading dimension with more than one entry (others' strides mean nothing)
        long span = 0; // elements one step of that dimension's outer neighbour must cover
        for (int d = dims - 2; d >= 0; d--) {
            if (t.size(d) == 1) {
                continue;
            }
            if (row < 0) {
                row = t.stride(d);
                if (row < n) {
                    return -1;
                }
            } else if (t.stride(d) != span) {
                return -1;
            }
            span = t.stride(d) * t.size(d);
        }
        return row < 0 ? n : row;
    }
}
