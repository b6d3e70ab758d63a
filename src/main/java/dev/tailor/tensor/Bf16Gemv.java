package dev.tailor.tensor;

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
 * <p>Threads: output rows are split into chunks run on {@link KernelThreads}.
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

    private static final boolean AVAILABLE = !Boolean.getBoolean("tailor.gemv.disable")
            && NativeKernels.load(Bf16GemvKernel::load) && Bf16GemvKernel.available();
    private static final boolean AMX = AVAILABLE && !Boolean.getBoolean("tailor.gemv.noAmx") && Bf16GemvKernel.amxAvailable();

    /** Below this many weight elements a call runs on the calling thread alone (hand-off costs more). */
    private static final long PARALLEL_MIN_ELEMENTS = 256 * 1024;
    /** Chunk granularity in output rows: a multiple of the kernel's rows per pass. */
    private static final int ROW_ALIGN = 16;

    private Bf16Gemv() {}

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
        if (!x.is_cpu() || !weight.is_cpu() || !Tensors.is(x, DType.BF16)
                || !Tensors.is(weight, DType.BF16) || x.requires_grad() || weight.requires_grad()
                || !x.is_contiguous() || !weight.is_contiguous()) {
            return false;
        }
        return bias == null || (bias.dim() == 1 && bias.size(0) == weight.size(0) && bias.is_cpu()
                && Tensors.is(bias, DType.BF16) && !bias.requires_grad() && bias.is_contiguous());
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
        if (out * in < PARALLEL_MIN_ELEMENTS) {
            gemv(x, pairs, rows, in, w, 0, out, bias, y, out); // small: the hand-off costs more
            return;
        }
        // a few chunks per thread, so that a worker waking late costs little
        long per = (out + 4L * KernelThreads.count() - 1) / (4L * KernelThreads.count());
        long chunkRows = Math.max(ROW_ALIGN, (per + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
        KernelThreads.forEachRange(out, chunkRows, (begin, end) -> gemv(x, pairs, rows, in, w, begin, end, bias, y, out));
    }
}
