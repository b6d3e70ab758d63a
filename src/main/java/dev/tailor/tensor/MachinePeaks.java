package dev.tailor.tensor;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The machine's own limits, measured in the same run as a benchmark so results read as fractions
 * of them: GEMM throughput per dtype and memory copy bandwidth.
 */
public final class MachinePeaks {
    private MachinePeaks() {}

    /** GFLOP/s of an n x n x n matmul in the given dtype (best of several timed repetitions). */
    public static double gemmGflops(DType dtype, int n, Device device) {
        try (PointerScope scope = new PointerScope()) {
            Tensor a = torch.randn(n, n).to(device.torchDevice(), dtype.scalarType());
            Tensor b = torch.randn(n, n).to(device.torchDevice(), dtype.scalarType());
            a.matmul(b); // warm-up: oneDNN picks and caches its kernel on the first call
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 5; rep++) {
                long start = System.nanoTime();
                try (PointerScope step = new PointerScope()) {
                    a.matmul(b).sum().item_double(); // forces completion on asynchronous devices
                }
                best = Math.min(best, (System.nanoTime() - start) / 1e9);
            }
            return 2.0 * n * n * (double) n / best / 1e9;
        }
    }

    /**
     * Memory traffic of a large tensor copy in GB/s, counting bytes read plus bytes written
     * (as STREAM does), the bound for streaming weights from memory during decoding.
     */
    public static double copyBandwidthGBs(long bytes, Device device) {
        try (PointerScope scope = new PointerScope()) {
            Tensor src = torch.ones(bytes / 4).to(device.torchDevice(), torch.ScalarType.Float);
            Tensor dst = torch.zeros(bytes / 4).to(device.torchDevice(), torch.ScalarType.Float);
            dst.copy_(src);
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 5; rep++) {
                long start = System.nanoTime();
                dst.copy_(src);
                best = Math.min(best, (System.nanoTime() - start) / 1e9);
            }
            return 2.0 * (bytes / 4 * 4) / best / 1e9;
        }
    }
}
