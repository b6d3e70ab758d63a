package dev.tailor.tensor;

import org.bytedeco.pytorch.Tensor;

/** What the facades of Tailor's native kernels ({@link Bf16Gemv}, {@link MixedLora}, ...) share: loading, the dtypes they take. */
final class NativeKernels {
    private NativeKernels() {}

    /** Runs a kernel class's loader: false where no build exists for this platform (the facade then uses libtorch's ops). */
    static boolean load(Runnable loader) {
        try {
            loader.run();
            return true;
        } catch (Throwable unavailable) { // UnsatisfiedLinkError and the like: JavaCPP found no library for this platform
            return false;
        }
    }

    /** Whether the tensors are all bf16 or all fp32, the two element types the kernels are built for. */
    static boolean sameFloatType(Tensor first, Tensor... others) {
        DType type = Tensors.is(first, DType.BF16) ? DType.BF16 : DType.F32;
        if (!Tensors.is(first, type)) {
            return false;
        }
        for (Tensor t : others) {
            if (!Tensors.is(t, type)) {
                return false;
            }
        }
        return true;
    }
}
