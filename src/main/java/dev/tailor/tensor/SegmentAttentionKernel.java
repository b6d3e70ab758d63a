package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_segment_attention.h}, compiled by the JavaCPP Maven plugin like
 * {@link Bf16GemvKernel}; free of libtorch types for the same reason. Callers go through {@link SegmentAttention}.
 * Tensors and int32 arrays are passed by address, strides in elements.
 */
@Platform(include = "tailor_segment_attention.h", compiler = "cpp11")
@Namespace("tailor")
final class SegmentAttentionKernel {
    private SegmentAttentionKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(SegmentAttentionKernel.class);
    }

    /** Query positions per work item of the forward pass: callers count work items with it. */
    @NoException
    @Name("segment_queries")
    static native long segmentQueries();

    @NoException
    @Name("segment_attention_forward_bf16")
    static native void forwardBf16(long q, long qRow, long qHead, long qPos, long k, long kRow, long kHead, long kPos, long v, long vRow, long vHead, long vPos,
            long batch, long length, long heads, long kvHeads, long d, long first, float scale, long out, long lse, long begin, long end);

    @NoException
    @Name("segment_attention_forward_f32")
    static native void forwardF32(long q, long qRow, long qHead, long qPos, long k, long kRow, long kHead, long kPos, long v, long vRow, long vHead, long vPos,
            long batch, long length, long heads, long kvHeads, long d, long first, float scale, long out, long lse, long begin, long end);

    @NoException
    @Name("segment_attention_backward_bf16")
    static native void backwardBf16(long q, long qRow, long qHead, long qPos, long k, long kRow, long kHead, long kPos, long v, long vRow, long vHead, long vPos,
            long batch, long length, long heads, long kvHeads, long d, long first, long last, float scale, long out, long dout, long lse,
            long dq, long dk, long dv, long begin, long end);

    @NoException
    @Name("segment_attention_backward_f32")
    static native void backwardF32(long q, long qRow, long qHead, long qPos, long k, long kRow, long kHead, long kPos, long v, long vRow, long vHead, long vPos,
            long batch, long length, long heads, long kvHeads, long d, long first, long last, float scale, long out, long dout, long lse,
            long dq, long dk, long dv, long begin, long end);
}
