package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Training's attention: causal attention within the segments (packed examples) of each row, with a
 * forward that keeps what the backward needs and a backward the caller runs explicitly (the autograd
 * graph is cut around it). On the CPU a native kernel ({@link SegmentAttentionKernel}) computes only
 * the attended [query, key] pairs, in fp32 from bf16 or fp32 inputs, with grouped-query heads: cost
 * in proportion to the examples' squared lengths instead of the row's (libtorch's SDPA with the
 * block-diagonal mask took 85-140 ms per layer of 4 x 512 tokens, forward and backward). Elsewhere,
 * or without the native build, libtorch's attention with the same mask ({@link Tensors#attention}),
 * differentiated by autograd.
 */
public final class SegmentAttention {
    private static final boolean NATIVE = NativeKernels.load(SegmentAttentionKernel::load);
    /** The kernel's query positions per forward work item (its constant, read once, so that the two cannot disagree). */
    private static final long QUERIES_PER_ITEM = NATIVE ? SegmentAttentionKernel.segmentQueries() : 0;

    private SegmentAttention() {}

    /**
     * Which keys each query attends to, for a batch of rows x length tokens: query t of row b attends to
     * keys first[b * length + t] .. t, and key j is attended by queries j .. last[b * length + j].
     */
    public record Segments(int rows, int length, int[] first, int[] last) {
        public Segments {
            if (rows < 1 || length < 1 || first.length != rows * length || last.length != rows * length) {
                throw new IllegalArgumentException(rows + " x " + length + " segments need " + rows * length + " entries");
            }
            for (int b = 0; b < rows; b++) {
                for (int t = 0; t < length; t++) {
                    int i = b * length + t;
                    if (first[i] < 0 || first[i] > t || last[i] < t || last[i] >= length
                            || (t > 0 && (first[i] < first[i - 1] || last[i] < last[i - 1]))) {
                        throw new IllegalArgumentException("row " + b + " position " + t + ": first " + first[i] + ", last " + last[i]
                                + " do not describe causal segments");
                    }
                }
            }
        }

        /**
         * From segment ids [rows * length] as {@code Batch} numbers them: each run of equal non-zero ids is
         * one example, attended causally; padding (0) attends to itself only (its outputs carry no loss).
         */
        public static Segments of(int[] ids, int rows, int length) {
            if (ids.length != rows * length) {
                throw new IllegalArgumentException(ids.length + " segment ids for " + rows + " x " + length + " tokens");
            }
            int[] first = new int[ids.length];
            int[] last = new int[ids.length];
            for (int b = 0; b < rows; b++) {
                int row = b * length;
                for (int t = 0; t < length; t++) {
                    boolean continues = t > 0 && ids[row + t] != 0 && ids[row + t] == ids[row + t - 1];
                    first[row + t] = continues ? first[row + t - 1] : t;
                }
                for (int t = length - 1; t >= 0; t--) {
                    boolean continues = t < length - 1 && ids[row + t] != 0 && ids[row + t] == ids[row + t + 1];
                    last[row + t] = continues ? last[row + t + 1] : t;
                }
            }
            return new Segments(rows, length, first, last);
        }

        /** The mask libtorch's attention takes: [rows, 1, length, length], true where query t may attend key j. */
        Tensor mask(Device device) {
            Tensor from = Tensors.fromLongs(Arrays.stream(first).asLongStream().toArray(), rows, 1, length, 1).to(device.torchDevice(),
                    torch.ScalarType.Long);
            Tensor keys = Tensors.arange(length, device).view(1, 1, 1, length);
            Tensor queries = Tensors.arange(length, device).view(1, 1, length, 1);
            return keys.ge(from).logical_and(keys.le(queries));
        }
    }

    /**
     * Whether the native kernel covers q [rows, heads, length, d] and k, v [rows, kv_heads, length, d]: on
     * the CPU, one dtype (bf16 or fp32), the last dimension contiguous.
     */
    public static boolean supports(Tensor q, Tensor k, Tensor v) {
        if (!NATIVE || q.dim() != 4 || k.dim() != 4 || v.dim() != 4) {
            return false;
        }
        long kvHeads = k.size(1);
        boolean shapes = k.size(0) == q.size(0) && kvHeads > 0 && q.size(1) % kvHeads == 0 && k.size(2) == q.size(2)
                && k.size(3) == q.size(3) && Arrays.equals(Tensors.shape(v), Tensors.shape(k));
        return shapes && NativeKernels.sameFloatType(q, k, v) && q.is_cpu() && k.is_cpu() && v.is_cpu() && q.stride(3) == 1
                && k.stride(3) == 1 && v.stride(3) == 1;
    }

    /**
     * softmax(scale q k^T) v over each query's segment, as [rows, length, heads * d] in q's dtype. q, k, v
     * are read as they are (their autograd history is not extended); {@link Forward#backward} gives their gradients.
     */
    public static Forward forward(Tensor q, Tensor k, Tensor v, Segments segments, double scale) {
        if (q.dim() != 4 || q.size(0) != segments.rows() || q.size(2) != segments.length()) {
            throw new IllegalArgumentException("q " + Arrays.toString(Tensors.shape(q)) + " for " + segments.rows() + " x "
                    + segments.length() + " segments");
        }
        long rows = q.size(0);
        long heads = q.size(1);
        long length = q.size(2);
        long d = q.size(3);
        if (!supports(q, k, v)) {
            return Forward.libtorch(q, k, v, segments, scale);
        }
        long kvHeads = k.size(1);
        Tensor out = torch.empty(new long[] {rows, length, heads * d}, new TensorOptions(q.scalar_type()), new MemoryFormatOptional());
        Tensor lse = torch.empty(new long[] {rows, heads, length}, new TensorOptions(torch.ScalarType.Float), new MemoryFormatOptional());
        boolean bf16 = Tensors.is(q, DType.BF16);
        long qa = q.data_ptr().address();
        long ka = k.data_ptr().address();
        long va = v.data_ptr().address();
        long oa = out.data_ptr().address();
        long la = lse.data_ptr().address();
        long[] qs = strides(q);
        long[] ks = strides(k);
        long[] vs = strides(v);
        float s = (float) scale;
        long blocks = (length + QUERIES_PER_ITEM - 1) / QUERIES_PER_ITEM;
        try (IntPointer first = new IntPointer(segments.first())) {
            long f = first.address();
            KernelThreads.forEachRange(rows * kvHeads * blocks, 1, (begin, end) -> {
                if (bf16) {
                    SegmentAttentionKernel.forwardBf16(qa, qs[0], qs[1], qs[2], ka, ks[0], ks[1], ks[2], va, vs[0], vs[1], vs[2], rows,
                            length, heads, kvHeads, d, f, s, oa, la, begin, end);
                } else {
                    SegmentAttentionKernel.forwardF32(qa, qs[0], qs[1], qs[2], ka, ks[0], ks[1], ks[2], va, vs[0], vs[1], vs[2], rows,
                            length, heads, kvHeads, d, f, s, oa, la, begin, end);
                }
            });
        }
        return new Forward(out, q, k, v, segments, scale, lse, null);
    }

    /** Strides in elements of dimensions 0-2 of a [rows, heads, length, d] tensor. */
    private static long[] strides(Tensor t) {
        return new long[] {t.stride(0), t.stride(1), t.stride(2)};
    }

    /** A forward pass: its output and what its backward needs. */
    public static final class Forward {
        private final Tensor out;
        private final Tensor q;
        private final Tensor k;
        private final Tensor v;
        private final Segments segments;
        private final double scale;
        private final Tensor lse; // native: the log-sum-exp of each query's scores
        private final Tensor[] leaves; // libtorch: q, k, v as leaves of the local graph that computed out

        private Forward(Tensor out, Tensor q, Tensor k, Tensor v, Segments segments, double scale, Tensor lse, Tensor[] leaves) {
            this.out = out;
            this.q = q;
            this.k = k;
            this.v = v;
            this.segments = segments;
            this.scale = scale;
            this.lse = lse;
            this.leaves = leaves;
        }

        private static Forward libtorch(Tensor q, Tensor k, Tensor v, Segments segments, double scale) {
            Tensor[] leaves = {q.detach().requires_grad_(true), k.detach().requires_grad_(true), v.detach().requires_grad_(true)};
            Tensor attended = Tensors.attention(leaves[0], leaves[1], leaves[2], segments.mask(Device.of(q)), scale);
            Tensor out = attended.transpose(1, 2).reshape(q.size(0), q.size(2), q.size(1) * q.size(3));
            return new Forward(out, q, k, v, segments, scale, null, leaves);
        }

        /** [rows, length, heads * d], outside any autograd graph. */
        public Tensor out() {
            return out.detach();
        }

        /** The gradients of q, k and v (shaped as they are) from the gradient of {@link #out} [rows, length, heads * d]. */
        public Tensor[] backward(Tensor dout) {
            Tensors.requireGradientShape("attention", out, dout);
            if (leaves != null) {
                out.backward(dout, new BoolOptional(), false, new TensorArrayRefOptional());
                return new Tensor[] {leaves[0].grad(), leaves[1].grad(), leaves[2].grad()};
            }
            try (NoGradGuard noGrad = new NoGradGuard()) {
                return nativeBackward(dout.to(out.scalar_type()).contiguous());
            }
        }

        private Tensor[] nativeBackward(Tensor dout) {
            long rows = q.size(0);
            long heads = q.size(1);
            long length = q.size(2);
            long d = q.size(3);
            long kvHeads = k.size(1);
            TensorOptions options = new TensorOptions(q.scalar_type());
            Tensor dq = torch.empty(new long[] {rows, length, heads, d}, options, new MemoryFormatOptional());
            Tensor dk = torch.empty(new long[] {rows, length, kvHeads, d}, options, new MemoryFormatOptional());
            Tensor dv = torch.empty(new long[] {rows, length, kvHeads, d}, options, new MemoryFormatOptional());
            boolean bf16 = Tensors.is(q, DType.BF16);
            long qa = q.data_ptr().address();
            long ka = k.data_ptr().address();
            long va = v.data_ptr().address();
            long oa = out.data_ptr().address();
            long ga = dout.data_ptr().address();
            long la = lse.data_ptr().address();
            long dqa = dq.data_ptr().address();
            long dka = dk.data_ptr().address();
            long dva = dv.data_ptr().address();
            long[] qs = strides(q);
            long[] ks = strides(k);
            long[] vs = strides(v);
            float s = (float) scale;
            try (IntPointer first = new IntPointer(segments.first()); IntPointer last = new IntPointer(segments.last())) {
                long f = first.address();
                long l = last.address();
                KernelThreads.forEachRange(rows * kvHeads, 1, (begin, end) -> {
                    if (bf16) {
                        SegmentAttentionKernel.backwardBf16(qa, qs[0], qs[1], qs[2], ka, ks[0], ks[1], ks[2], va, vs[0], vs[1], vs[2], rows,
                                length, heads, kvHeads, d, f, l, s, oa, ga, la, dqa, dka, dva, begin, end);
                    } else {
                        SegmentAttentionKernel.backwardF32(qa, qs[0], qs[1], qs[2], ka, ks[0], ks[1], ks[2], va, vs[0], vs[1], vs[2], rows,
                                length, heads, kvHeads, d, f, l, s, oa, ga, la, dqa, dka, dva, begin, end);
                    }
                });
            }
            return new Tensor[] {dq.transpose(1, 2), dk.transpose(1, 2), dv.transpose(1, 2)};
        }
    }
}
