package dev.tailor.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Decoding's bf16 matrix-vector products ({@code x [rows <= 8, in] @ W^T}, W [out, in]) on an AVX-512
 * BF16 kernel ({@link Bf16GemvKernel}). libtorch's
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
    /** The most rows of x handled per call; prompts (prefill) stay with libtorch's GEMM. */
    public static final int MAX_ROWS = 8;

    private static final boolean AVAILABLE = load();

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

    /** Whether {@link #linear} covers this product; bias may be null. */
    public static boolean supports(Tensor x, Tensor weight, Tensor bias) {
        if (!AVAILABLE || x.dim() < 1 || weight.dim() != 2) {
            return false;
        }
        long in = weight.size(1);
        long numel = x.numel();
        if (in <= 0 || weight.size(0) <= 0 || x.size(-1) != in || numel == 0 || numel > MAX_ROWS * in) {
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
        run(x.data_ptr().address(), rows, in, weight.data_ptr().address(), biasAddress, y.data_ptr().address(), out);
        return y;
    }

    private static void run(long x, long rows, long in, long w, long bias, long y, long out) {
        if (out * in < PARALLEL_MIN_ELEMENTS || Pool.WORKERS.length == 0 || !Pool.LOCK.tryLock()) {
            Bf16GemvKernel.gemv(x, rows, in, w, 0, out, bias, y, out); // small, single core, or the pool is busy
            return;
        }
        try {
            Task task = new Task(x, rows, in, w, bias, y, out, Pool.WORKERS.length + 1);
            Pool.start(task);
            task.work();
            task.awaitDone();
        } finally {
            Pool.LOCK.unlock();
        }
    }

    /** One call's chunks, taken by whichever thread comes first. */
    private static final class Task {
        final long x, rows, in, w, bias, y, out;
        final long chunkRows;
        final int chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();

        Task(long x, long rows, long in, long w, long bias, long y, long out, int threads) {
            this.x = x;
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
                Bf16GemvKernel.gemv(x, rows, in, w, begin, Math.min(out, begin + chunkRows), bias, y, out);
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
