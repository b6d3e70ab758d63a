package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_attention.h}, compiled by the JavaCPP Maven plugin like
 * {@link Bf16GemvKernel}; free of libtorch types for the same reason. Callers go through {@link DecodeAttention}.
 */
@Platform(include = "tailor_attention.h", compiler = "cpp11")
@Namespace("tailor")
final class AttentionKernel {
    private AttentionKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(AttentionKernel.class);
    }

    /** bf16 q, k, v and out: see {@link DecodeAttention#attend}; strides in elements. */
    @NoException
    @Name("decode_attention_bf16")
    static native void bf16(long q, long qRow, long qHead, long k, long v, long kvRow, long kvHead, long kvPos, long heads,
            long kvHeads, long d, @Cast("int32_t*") int[] from, @Cast("int32_t*") int[] to, float scale, long out, long begin,
            long end);

    /** fp32 q, k, v and out. */
    @NoException
    @Name("decode_attention_f32")
    static native void f32(long q, long qRow, long qHead, long k, long v, long kvRow, long kvHead, long kvPos, long heads,
            long kvHeads, long d, @Cast("int32_t*") int[] from, @Cast("int32_t*") int[] to, float scale, long out, long begin,
            long end);
}
