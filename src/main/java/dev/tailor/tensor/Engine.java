package dev.tailor.tensor;

import org.bytedeco.pytorch.global.torch;

/**
 * Process-wide libtorch settings. Threads are configured explicitly, never defaulted: with default
 * OpenMP settings a 2-thread LoRA step measured 15x slower (ARCHITECTURE.md). OMP_WAIT_POLICY and
 * OPENBLAS_NUM_THREADS must be in the environment before the JVM starts; the launcher sets them.
 */
public final class Engine {
    private static volatile boolean configured;

    private Engine() {}

    /** Sets libtorch's intra-op thread count; {@code threads <= 0} means one per available core. */
    public static synchronized void configure(int threads) {
        int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        torch.set_num_threads(n);
        if (!configured) {
            // libtorch allows setting inter-op threads only once, before any parallel work
            try {
                torch.set_num_interop_threads(1);
            } catch (RuntimeException alreadyStarted) {
                // keep libtorch's value; intra-op threads are the ones that matter for our ops
            }
        }
        configured = true;
    }

    /** Configures the defaults once if nobody did (tests, embedded use). */
    public static void ensureConfigured() {
        if (!configured) {
            configure(0);
        }
    }

    /** Restores libtorch's thread count when closed. */
    public interface ThreadSetting extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * libtorch on one intra-op thread until closed. For decode steps whose large products run on
     * {@link Bf16Gemv}'s own threads: the remaining ops are tiny, and waking OpenMP's sleeping
     * threads for each cost more than the work (one-query attention 0.43 ms on 2 threads, 0.10 ms
     * on 1; decode +10% tokens/s). The setting is process-wide: concurrent callers share it.
     */
    public static ThreadSetting singleThreaded() {
        int previous = torch.get_num_threads();
        torch.set_num_threads(1);
        return () -> torch.set_num_threads(previous);
    }

    public static int threads() {
        return torch.get_num_threads();
    }

    /** One line for logs and benchmark reports: versions, threads, OpenMP settings, the decode kernel's path. */
    public static String describe() {
        return "libtorch 2.7.1 (Bytedeco presets), " + threads() + " intra-op threads, OMP_WAIT_POLICY="
                + System.getenv().getOrDefault("OMP_WAIT_POLICY", "(unset)") + ", GOMP_SPINCOUNT="
                + System.getenv().getOrDefault("GOMP_SPINCOUNT", "(unset)") + ", OPENBLAS_NUM_THREADS="
                + System.getenv().getOrDefault("OPENBLAS_NUM_THREADS", "(unset)") + "; decode kernel: "
                + (Bf16Gemv.amx() ? "AMX tiles" : Bf16Gemv.available() ? "AVX-512 BF16" : "none (libtorch)");
    }
}
