package dev.tailor.tensor;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/tailor_gemv.h}, compiled by the JavaCPP Maven plugin (phase
 * process-classes) into {@code dev/tailor/tensor/linux-x86_64/libjniBf16GemvKernel.so}. Kept free of
 * libtorch types: the plugin's generator loads this class with only the project's classes on its path.
 * Callers go through {@link Bf16Gemv}.
 */
@Platform(include = "tailor_gemv.h", compiler = "cpp11")
@Namespace("tailor")
final class Bf16GemvKernel {
    private Bf16GemvKernel() {}

    /** Loads the library; throws where no build exists. */
    static void load() {
        Loader.load(Bf16GemvKernel.class);
    }

    /** True where the CPU and OS support AVX-512 BF16. */
    @NoException
    static native boolean available();

    /** True where the CPU has AMX bf16 tiles and the OS granted this process their use. */
    @NoException
    @Name("amx_available")
    static native boolean amxAvailable();

    /** x [rows, in] (in even) as AMX's B operand: pairs[k / 2, r] = (x[r, k], x[r, k + 1]). */
    @NoException
    @Name("pack_pairs")
    static native void packPairs(long x, long rows, long in, long pairs);

    /** As {@link #gemv} on AMX tiles, rows of x in 1..16, in a multiple of 32, x also packed by {@link #packPairs}. */
    @NoException
    @Name("gemv_amx")
    static native void gemvAmx(long x, long pairs, long rows, long in, long w, long begin, long end, long bias, long y,
            long out);

    /** Output rows [begin, end) for all rows of x; addresses of contiguous bf16 data, bias 0 for none. */
    @NoException
    static native void gemv(long x, long rows, long in, long w, long begin, long end, long bias, long y, long out);
}
