package dev.tailor.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Decoding's bf16 matrix-vector products ({@code x [rows, in] @ W^T}, W [out, in]) on a native kernel
 * ({@link Bf16GemvKernel}): AMX tiles where the CPU has them (2 to 32 rows, in a multiple of 32),
 * else AVX-512 BF16 (at most 8 rows). libtorch's
 * bf16 linear streamed W at 13-22 GB/s for so few rows where the memory gives 40-60 GB/s, and
 * decoding spends most of each token there. Every weight byte is read once for all rows, sums are
 * fp32 and rounded to bf16 once (after the bias), as libtorch does.
 *
 * <p>Threads: the library has no OpenMP (libtorch brings its own runtime); output rows are split
 * into chunks taken by the calling thread and {@code availableProcessors() - 1} daemon workers.
 * Anything the kernel does not cover (other dtypes or devices, strided inputs, more rows, tensors
 * that need autograd, a CPU without AVX-512 BF16) stays with libtorch: see {@link #supports}.
 */
public final class Bf16Gemv {
    /** The most rows of x the AVX-512 path takes per call; prompts (prefill) stay with libtorch's GEMM. */
    private static final int MAX_ROWS = 8;
    /**
     * The most rows on AMX tiles. Measured on 2 cores against libtorch's bf16 linear (oneDNN, on AMX
     * too): 8-32 rows 1.1-1.5x faster here (16 rows cost 10-20% more than one, where the AVX-512
     * path's 8 rows cost 2-2.3x one); from 64 rows on, mixed (the 152k-row lm_head 2x slower at 64),
     * so prompts stay with libtorch.
     */
    private static final int MAX_AMX_ROWS = 32;

    private static final boolean AVAILABLE = load();
    private static final boolean AMX = AVAILABLE && !Boolean.getBoolean("tailor.gemv.noAmx") && Bf16GemvKernel.amxAvailable();

    /** Below this many weight elements a call runs on the calling thread alone (hand-off costs more). */
    private static final long PARALLEL_MIN_ELEMENTS = 256 * 1024;
    /** Chunk granularity in output rows: a multiple of the kernel's rows per pass. */
    private static final int ROW_ALIGN = 16;

    private Bf16Gemv() {}

    private static boolean load() {
        if (Boolean.getBoolean("tailor.gemv.disable")) {
            return false;
        }
        try {
            return Bf16GemvKernel.load();
        } catch (Throwable unavailable) { // no native build for this platform, or a loader failure
            return false;
        }
    }

    /** True where the native kernel loaded and the CPU has AVX-512 BF16. */
    public static boolean available() {
        return AVAILABLE;
    }

    /** True where products run on AMX tiles (the CPU has them and the OS allows them). */
    public static boolean amx() {
        return AMX;
    }

    /** The most rows of x this kernel takes in products whose inner dimension is {@code in}; 0 where none. */
    public static int maxRows(long in) {
        return !AVAILABLE ? 0 : onAmx(2, in) ? MAX_AMX_ROWS : MAX_ROWS;
    }

    private static boolean onAmx(long rows, long in) {
        return AMX && rows >= 2 && rows <= MAX_AMX_ROWS && in % 32 == 0; // one row: both paths measure the same
    }

    /** Whether {@link #linear} covers this product; bias may be null. */
    public static boolean supports(Tensor x, Tensor weight, Tensor bias) {
        if (!AVAILABLE || x.dim() < 1 || weight.dim() != 2) {
            return false;
        }
        long in = weight.size(1);
        long numel = x.numel();
        if (in <= 0 || weight.size(0) <= 0 || x.size(-1) != in || numel == 0 || numel > maxRows(in) * in) {
            return false;
        }
        if (!x.is_cpu() || !weight.is_cpu() || !isBf16(x)
                || !isBf16(weight) || x.requires_grad() || weight.requires_grad()
                || !x.is_contiguous() || !weight.is_contiguous()) {
            return false;
        }
        return bias == null || (bias.dim() == 1 && bias.size(0) == weight.size(0) && bias.is_cpu()
                && isBf16(bias) && !bias.requires_grad() && bias.is_contiguous());
    }

    private static boolean isBf16(Tensor t) {
        return t.scalar_type().value == torch.ScalarType.BFloat16.value; // JavaCPP returns fresh enum objects
    }

    /** {@code x @ weight^T + bias} as a new bf16 tensor [..., out]; callers check {@link #supports} first. */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long out = weight.size(0);
        long in = weight.size(1);
        long rows = x.numel() / in;
        long[] shape = Tensors.shape(x);
        shape[shape.length - 1] = out;
        Tensor y = torch.empty(shape, new TensorOptions(torch.ScalarType.BFloat16), new MemoryFormatOptional());
        long biasAddress = bias == null ? 0 : bias.data_ptr().address();
        long xAddress = x.data_ptr().address();
        if (!onAmx(rows, in)) {
            run(xAddress, 0, rows, in, weight.data_ptr().address(), biasAddress, y.data_ptr().address(), out);
            return y;
        }
        try (PointerScope scratch = new PointerScope()) {
            long padded = (rows + 15) / 16 * 16; // the kernel's groups of 16 rows
            Tensor pairs = torch.empty(new long[] {padded * in / 2}, new TensorOptions(torch.ScalarType.Int),
                    new MemoryFormatOptional());
            long pairsAddress = pairs.data_ptr().address();
            Bf16GemvKernel.packPairs(xAddress, rows, in, pairsAddress);
            run(xAddress, pairsAddress, rows, in, weight.data_ptr().address(), biasAddress, y.data_ptr().address(), out);
        }
        return y;
    }

    /** Products of output rows [begin, end): on AMX tiles where x was packed (pairs not 0). */
    private static void gemv(long x, long pairs, long rows, long in, long w, long begin, long end, long bias, long y,
            long out) {
        if (pairs != 0) {
            Bf16GemvKernel.gemvAmx(x, pairs, rows, in, w, begin, end, bias, y, out);
        } else {
            Bf16GemvKernel.gemv(x, rows, in, w, begin, end, bias, y, out);
        }
    }

    private static void run(long x, long pairs, long rows, long in, long w, long bias, long y, long out) {
        if (out * in < PARALLEL_MIN_ELEMENTS || Pool.WORKERS.length == 0 || !Pool.LOCK.tryLock()) {
            gemv(x, pairs, rows, in, w, 0, out, bias, y, out); // small, single core, or the pool is busy
            return;
        }
        try {
            Task task = new Task(x, pairs, rows, in, w, bias, y, out, Pool.WORKERS.length + 1);
            Pool.start(task);
            task.work();
            task.awaitDone();
        } finally {
            Pool.LOCK.unlock();
        }
    }

    /** One call's chunks, taken by whichever thread comes first. */
    private static final class Task {
        final long x, pairs, rows, in, w, bias, y, out;
        final long chunkRows;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();

        Task(long x, long pairs, long rows, long in, long w, long bias, long y, long out, int threads) {
            this.x = x;
            this.pairs = pairs;
            this.rows = rows;
            this.in = in;
            this.w = w;
            this.bias = bias;
            this.y = y;
            this.out = out;
            // a few chunks per thread, so that a worker waking late costs little
            long per = (out + 4L * threads - 1) / (4L * threads);
            this.chunkRows = Math.max(ROW_ALIGN, (per + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
            this.chunks = (int) ((out + chunkRows - 1) / chunkRows);
        }

        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                long begin = c * chunkRows;
                gemv(x, pairs, rows, in, w, begin, Math.min(out, begin + chunkRows), bias, y, out);
                done.incrementAndGet();
            }
        }

        void awaitDone() {
            long spins = 0;
            while (done.get() < chunks) {
                if (++spins < 100_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // a worker lost its core mid-chunk
                }
            }
        }
    }

    /** Daemon workers: spin briefly after each task (calls come in bursts), then park. */
    private static final class Pool {
        static final ReentrantLock LOCK = new ReentrantLock();
        static final long SPIN_NANOS = 50_000;
        static final Worker[] WORKERS = createWorkers();
        static volatile Task current;

        static Worker[] createWorkers() {
            int n = Math.max(0, Runtime.getRuntime().availableProcessors() - 1);
            Worker[] workers = new Worker[n];
            for (int i = 0; i < n; i++) {
                workers[i] = new Worker();
                Thread t = new Thread(workers[i], "tailor-gemv-" + (i + 1));
                t.setDaemon(true);
                workers[i].thread = t;
                t.start();
            }
            return workers;
        }

        static void start(Task task) {
            current = task;
            for (Worker worker : WORKERS) {
                if (worker.parked) {
                    LockSupport.unpark(worker.thread);
                }
            }
        }
    }

    private static final class Worker implements Runnable {
        volatile Thread thread;
        volatile boolean parked;

        @Override
        public void run() {
            Task seen = null;
            while (true) {
                Task task = Pool.current;
                if (task == seen) {
                    long start = System.nanoTime();
                    while ((task = Pool.current) == seen && System.nanoTime() - start < Pool.SPIN_NANOS) {
                        Thread.onSpinWait();
                    }
                    if (task == seen) {
                        parked = true;
                        if (Pool.current == seen) {
                            LockSupport.park(this);
                        }
                        parked = false;
                        continue;
                    }
                }
                seen = task;
                task.work();
            }
        }
    }
}
