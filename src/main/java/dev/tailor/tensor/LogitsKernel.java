package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_logits.h}, compiled by the JavaCPP Maven plugin like
 * {@link Bf16GemvKernel}; free of libtorch types for the same reason. Callers go through {@link LogitRows}.
 */
@Platform(include = "tailor_logits.h", compiler = "cpp11")
@Namespace("tailor")
final class LogitsKernel {
    private LogitsKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(LogitsKernel.class);
    }

    /**
     * fp32 rows at {@code logits}: see {@link LogitRows}. The results go to native int32/fp32 arrays by
     * address ({@code logNormalizer} 0 for the argmax alone): threads write disjoint rows of them, which
     * Java arrays, copied in and out whole by JNI, would not keep.
     */
    @NoException
    @Name("logits_rows_f32")
    static native void rows(long logits, long stride, long n, long begin, long end, long argmax, long logNormalizer);

    /**
     * Cross-entropy of bf16 rows against int64 targets (native arrays by address): fp64 loss, int32 argmax,
     * and with {@code gradScale} != 0 the rows overwritten by the gradient of gradScale * loss.
     */
    @NoException
    @Name("cross_entropy_bf16")
    static native void crossEntropyBf16(long logits, long stride, long n, long targets, long loss, long argmax, float gradScale,
                                        long begin, long end);

    /** {@link #crossEntropyBf16} on fp32 rows. */
    @NoException
    @Name("cross_entropy_f32")
    static native void crossEntropyF32(long logits, long stride, long n, long targets, long loss, long argmax, float gradScale,
                                       long begin, long end);
}
