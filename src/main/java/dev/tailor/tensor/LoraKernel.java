package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_lora.h}, compiled by the JavaCPP Maven plugin like
 * {@link Bf16GemvKernel}; free of libtorch types for the same reason. Callers go through {@link MixedLora}.
 */
@Platform(include = "tailor_lora.h", compiler = "cpp11")
@Namespace("tailor")
final class LoraKernel {
    private LoraKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(LoraKernel.class);
    }

    /** x and y bf16: see {@link MixedLora#addInPlace}; addresses of contiguous data, a[r] 0 for none. */
    @NoException
    @Name("lora_rows_bf16")
    static native void rowsBf16(long x, long rows, long in, @Cast("int64_t*") long[] a, @Cast("int64_t*") long[] bT,
            @Cast("int32_t*") int[] rank, float[] scaling, long y, long yStride, long out);

    /** x and y fp32. */
    @NoException
    @Name("lora_rows_f32")
    static native void rowsF32(long x, long rows, long in, @Cast("int64_t*") long[] a, @Cast("int64_t*") long[] bT,
            @Cast("int32_t*") int[] rank, float[] scaling, long y, long yStride, long out);
}
