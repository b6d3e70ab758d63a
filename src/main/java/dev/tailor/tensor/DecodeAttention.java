package dev.tailor.tensor;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Attention of a decoding step on a native kernel ({@link AttentionKernel}): one query per row over
 * positions [from[r], to[r]) of that row's keys and values, grouped-query heads, in
 * fp32 (as Tailor's prompt attention, {@link Tensors#attention}, computes it) with one rounding of
 * the output. libtorch took about a dozen small ops per layer for this: 0.4 ms per layer for one
 * row, 1 ms for eight, a quarter of an 8-row step. Rows are split across {@link KernelThreads}.
 */
public final class DecodeAttention {
    private static final boolean NATIVE = NativeKernels.load(AttentionKernel::load);

    private DecodeAttention() {}

    /**
     * Whether {@link #attend} covers q [rows, heads, 1, d] and k, v [rows, kv_heads, positions, d]: on
     * the CPU, one dtype (bf16 or fp32), the last dimension contiguous, no gradients.
     */
    public static boolean supports(Tensor q, Tensor k, Tensor v) {
        if (!NATIVE || q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || q.size(2) != 1) {
            return false;
        }
        long heads = q.size(1);
        long kvHeads = k.size(1);
        boolean shapes = k.size(0) == q.size(0) && v.size(0) == q.size(0) && kvHeads > 0 && heads % kvHeads == 0
                && v.size(1) == kvHeads && k.size(2) == v.size(2) && k.size(3) == q.size(3) && v.size(3) == q.size(3)
                && k.stride(0) == v.stride(0) && k.stride(1) == v.stride(1) && k.stride(2) == v.stride(2);
        return shapes && NativeKernels.sameFloatType(q, k, v) && q.is_cpu() && k.is_cpu() && v.is_cpu() && q.stride(3) == 1 && k.stride(3) == 1
                && v.stride(3) == 1 && !q.requires_grad() && !k.requires_grad() && !v.requires_grad();
    }

    /**
     * softmax(scale q k^T) v over positions [from[r], to[r]) of row r (a prefix of the cache, or after
     * a left-padded prompt's padding), as a new tensor [rows, heads, 1, d]; callers check
     * {@link #supports} first. Every range must be non-empty and within the positions.
     */
    public static Tensor attend(Tensor q, Tensor k, Tensor v, int[] from, int[] to, double scale) {
        long rows = q.size(0);
        long positions = k.size(2);
        if (from.length != rows || to.length != rows) {
            throw new IllegalArgumentException(from.length + " and " + to.length + " range ends for " + rows + " rows");
        }
        for (int r = 0; r < rows; r++) {
            if (from[r] < 0 || from[r] >= to[r] || to[r] > positions) {
                throw new IllegalArgumentException("row " + r + " attends to positions [" + from[r] + ", " + to[r] + ") of " + positions);
            }
        }
        long heads = q.size(1);
        long d = q.size(3);
        boolean bf16 = Tensors.is(q, DType.BF16);
        Tensor out = torch.empty(new long[] {rows, heads, 1, d}, new TensorOptions(q.scalar_type()), new MemoryFormatOptional());
        long qa = q.data_ptr().address();
        long ka = k.data_ptr().address();
        long va = v.data_ptr().address();
        long oa = out.data_ptr().address();
        long qRow = q.stride(0);
        long qHead = q.stride(1);
        long kvRow = k.stride(0);
        long kvHead = k.stride(1);
        long kvPos = k.stride(2);
        long kvHeads = k.size(1);
        float s = (float) scale;
        KernelThreads.forEachThreadRange(rows, (begin, end) -> {
            if (bf16) {
                AttentionKernel.bf16(qa, qRow, qHead, ka, va, kvRow, kvHead, kvPos, heads, kvHeads, d, from, to, s, oa, begin, end);
            } else {
                AttentionKernel.f32(qa, qRow, qHead, ka, va, kvRow, kvHead, kvPos, heads, kvHeads, d, from, to, s, oa, begin, end);
            }
        });
        return out;
    }
}
