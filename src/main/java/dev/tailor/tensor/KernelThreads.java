package dev.tailor.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * The threads of the native kernels ({@link Bf16Gemv}, {@link MixedLora}): their libraries have no
 * OpenMP (libtorch brings its own runtime), so a call's chunks are taken by the calling thread and
 * {@code availableProcessors() - 1} daemon workers, which spin briefly after each call (calls come
 * in bursts, one per layer) and then park.
 */
final class KernelThreads {
    private static final ReentrantLock LOCK = new ReentrantLock();
    private static final long SPIN_NANOS = 50_000;
    private static final Worker[] WORKERS = createWorkers();
    private static volatile Task current;

    private KernelThreads() {}

    /** The threads a call can use: the caller and the workers. */
    static int count() {
        return WORKERS.length + 1;
    }

    /** Work on rows [begin, end) of a call. */
    interface Range {
        void run(long begin, long end);
    }

    /** Runs {@code body} over [0, rows) in ranges of {@code chunkRows} (the last shorter), as {@link #forEach}. */
    static void forEachRange(long rows, long chunkRows, Range body) {
        int chunks = (int) ((rows + chunkRows - 1) / chunkRows);
        forEach(chunks, c -> body.run(c * chunkRows, Math.min(rows, (c + 1) * chunkRows)));
    }

    /** Runs {@code body} over [0, rows) in one range per thread (fewer where there are fewer rows). */
    static void forEachThreadRange(long rows, Range body) {
        forEachRange(rows, Math.max(1, (rows + count() - 1) / count()), body);
    }

    /**
     * Runs {@code body} for chunks 0..chunks-1 on all threads, returning when every chunk is done; on
     * the calling thread alone where there are no workers or another call holds them.
     */
    static void forEach(int chunks, IntConsumer body) {
        if (WORKERS.length == 0 || chunks < 2 || !LOCK.tryLock()) {
            for (int c = 0; c < chunks; c++) {
                body.accept(c);
            }
            return;
        }
        try {
            Task task = new Task(chunks, body);
            current = task;
            for (Worker worker : WORKERS) {
                if (worker.parked) {
                    LockSupport.unpark(worker.thread);
                }
            }
            task.work();
            task.awaitDone();
        } finally {
            LOCK.unlock();
        }
    }

    private static Worker[] createWorkers() {
        int n = Math.max(0, Runtime.getRuntime().availableProcessors() - 1);
        Worker[] workers = new Worker[n];
        for (int i = 0; i < n; i++) {
            workers[i] = new Worker();
            Thread t = new Thread(workers[i], "tailor-kernel-" + (i + 1));
            t.setDaemon(true);
            workers[i].thread = t;
            t.start();
        }
        return workers;
    }

    /** One call's chunks, taken by whichever thread comes first. */
    private static final class Task {
        final int chunks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();

        Task(int chunks, IntConsumer body) {
            this.chunks = chunks;
            this.body = body;
        }

        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                body.accept(c);
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

    private static final class Worker implements Runnable {
        volatile Thread thread;
        volatile boolean parked;

        @Override
        public void run() {
            Task seen = null;
            while (true) {
                Task task = current;
                if (task == seen) {
                    long start = System.nanoTime();
                    while ((task = current) == seen && System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    }
                    if (task == seen) {
                        parked = true;
                        if (current == seen) {
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
