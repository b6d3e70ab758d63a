package dev.tailor.tensor;

/** Loading Tailor's native kernel libraries, which the facades ({@link DecodeAttention}, {@link MixedLora}, ...) do once. */
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
}
