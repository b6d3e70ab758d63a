package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * A decoder layer's element-wise steps at inference on a native kernel ({@link ElementwiseKernel}),
 * one pass each: RMSNorm, which libtorch ran as 8 ops, and the MLP's silu(gate) * up. Inputs that
 * need gradients, or live on a GPU, stay with libtorch's ops (callers check {@code supports...}
 * first). Rows are split across {@link KernelThreads} when there are many (a prompt).
 */
public final class FusedElementwise {
    private static final boolean NATIVE = NativeKernels.load(ElementwiseKernel::load);
    /** Rows per chunk where rows are split: a worker that wakes late then holds up little. */
    private static final int CHUNK_ROWS = 16;

    private FusedElementwise() {}

    /** Whether {@link #rmsNorm} covers x [..., n] with weight [n]: CPU, both bf16 or both fp32, contiguous, no gradients. */
    public static boolean supportsRmsNorm(Tensor x, Tensor weight) {
        return NATIVE && x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1) && x.numel() > 0
                && onCpuWithoutGrad(x) && onCpuWithoutGrad(weight) && sameFloatType(x, weight)
                && x.is_contiguous() && weight.is_contiguous();
    }

    /**
     * transformers' LlamaRMSNorm, {@code weight * (x * rsqrt(mean(x^2, -1) + eps))} with the
     * normalised x held in x's dtype before the product, as a new tensor of x's shape.
     */
    public static Tensor rmsNorm(Tensor x, Tensor weight, double eps) {
        long n = x.size(-1);
        long rows = x.numel() / n;
        Tensor out = torch.empty_like(x);
        long xa = x.data_ptr().address();
        long wa = weight.data_ptr().address();
        long oa = out.data_ptr().address();
        boolean bf16 = Tensors.is(x, DType.BF16);
        float e = (float) eps;
        forRows(rows, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.rmsNormBf16(xa, wa, n, e, oa, begin, end);
            } else {
                ElementwiseKernel.rmsNormF32(xa, wa, n, e, oa, begin, end);
            }
        });
        return out;
    }

    /**
     * Whether {@link #siluMul} covers gate and up of one shape [..., n]: CPU, both bf16 or both fp32,
     * no gradients, each a matrix of rows with contiguous entries (as the parts of a fused product's output are).
     */
    public static boolean supportsSiluMul(Tensor gate, Tensor up) {
        return NATIVE && gate.dim() >= 1 && gate.numel() > 0 && Arrays.equals(Tensors.shape(gate), Tensors.shape(up))
                && onCpuWithoutGrad(gate) && onCpuWithoutGrad(up) && sameFloatType(gate, up)
                && rowStride(gate) > 0 && rowStride(up) > 0;
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
        forRows(rows, (begin, end) -> {
            if (bf16) {
                ElementwiseKernel.siluMulBf16(ga, gRow, ua, uRow, n, oa, begin, end);
            } else {
                ElementwiseKernel.siluMulF32(ga, gRow, ua, uRow, n, oa, begin, end);
            }
        });
        return out;
    }

    private interface RowRange {
        void run(long begin, long end);
    }

    private static void forRows(long rows, RowRange body) {
        int chunks = (int) ((rows + CHUNK_ROWS - 1) / CHUNK_ROWS);
        KernelThreads.forEach(chunks, c -> body.run(c * (long) CHUNK_ROWS, Math.min(rows, (c + 1L) * CHUNK_ROWS)));
    }

    private static boolean onCpuWithoutGrad(Tensor t) {
        return t.is_cpu() && !t.requires_grad();
    }

    private static boolean sameFloatType(Tensor a, Tensor b) {
        return Tensors.is(a, DType.BF16) && Tensors.is(b, DType.BF16) || Tensors.is(a, DType.F32) && Tensors.is(b, DType.F32);
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
