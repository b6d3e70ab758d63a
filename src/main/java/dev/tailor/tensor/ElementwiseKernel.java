package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_elementwise.h}, compiled by the JavaCPP Maven plugin like
 * {@link Bf16GemvKernel}; free of libtorch types for the same reason. Callers go through {@link FusedElementwise}.
 */
@Platform(include = "tailor_elementwise.h", compiler = "cpp11")
@Namespace("tailor")
final class ElementwiseKernel {
    private ElementwiseKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(ElementwiseKernel.class);
    }

    /** bf16 x, w and out by address, fp32 rstd or 0: see {@link FusedElementwise#rmsNorm} and {@link TrainingRmsNorm}. */
    @NoException
    @Name("rms_norm_bf16")
    static native void rmsNormBf16(long x, long w, long n, float eps, long out, long rstd, long begin, long end);

    @NoException
    @Name("rms_norm_f32")
    static native void rmsNormF32(long x, long w, long n, float eps, long out, long rstd, long begin, long end);

    /** bf16 dy, x, w and dx by address, fp32 rstd: see {@link TrainingRmsNorm}. */
    @NoException
    @Name("rms_norm_backward_bf16")
    static native void rmsNormBackwardBf16(long dy, long x, long w, long rstd, long n, long dx, long begin, long end);

    @NoException
    @Name("rms_norm_backward_f32")
    static native void rmsNormBackwardF32(long dy, long x, long w, long rstd, long n, long dx, long begin, long end);

    /** bf16 gate, up and out by address, row strides in elements: see {@link FusedElementwise#siluMul}. */
    @NoException
    @Name("silu_mul_bf16")
    static native void siluMulBf16(long g, long gRow, long u, long uRow, long n, long out, long begin, long end);

    @NoException
    @Name("silu_mul_f32")
    static native void siluMulF32(long g, long gRow, long u, long uRow, long n, long out, long begin, long end);

    /** bf16 gate, up, dout and dgu by address: see {@link TrainingSiluMul}. */
    @NoException
    @Name("silu_mul_backward_bf16")
    static native void siluMulBackwardBf16(long g, long gRow, long u, long uRow, long dout, long n, long dgu, long begin, long end);

    @NoException
    @Name("silu_mul_backward_f32")
    static native void siluMulBackwardF32(long g, long gRow, long u, long uRow, long dout, long n, long dgu, long begin, long end);

    /** bf16 x, cos, sin and out by address, strides in elements: see {@link FusedElementwise#rotary}. */
    @NoException
    @Name("rotary_bf16")
    static native void rotaryBf16(long x, long xb, long xh, long xt, long cos, long sin, long cb, long ct, long heads,
            long positions, long d, long out, long begin, long end);

    @NoException
    @Name("rotary_f32")
    static native void rotaryF32(long x, long xb, long xh, long xt, long cos, long sin, long cb, long ct, long heads,
            long positions, long d, long out, long begin, long end);

    /** fp32 dropout mask entries [begin, end) at {@code out}: see {@link DropoutMask}. */
    @NoException
    @Name("dropout_mask_f32")
    static native void dropoutMask(long out, long begin, long end, long threshold, float scale, long seedLow, long seedHigh);
}
