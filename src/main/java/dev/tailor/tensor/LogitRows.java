package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * Rows of fp32 next-token logits [rows, vocab] ([vocab] is one row): each row's greedy token and
 * its log-normaliser log(sum exp(x)), so that a token's log-probability is its logit minus that. On
 * the CPU a native kernel ({@link LogitsKernel}) reads each row twice (libtorch's argmax per
 * row and log_softmax took 5 ms of an 80 ms decoding step of 8 rows over a 150k vocabulary);
 * elsewhere, or without the native build, libtorch's argmax and logsumexp.
 */
public final class LogitRows {
    private static final boolean NATIVE = NativeKernels.load(LogitsKernel::load);

    private LogitRows() {}

    /** The first index of each row's maximum (a row's first NaN where it has one), as torch.argmax. */
    public static int[] argmax(Tensor logits) {
        Tensor rows = asRows(logits);
        if (!onKernel(rows)) {
            long[] index = Tensors.toLongs(rows.argmax(new LongOptional(1), false));
            int[] out = new int[index.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = (int) index[i];
            }
            return out;
        }
        int n = (int) rows.size(0);
        try (IntPointer argmax = new IntPointer(n)) {
            run(rows, argmax.address(), 0);
            int[] out = new int[n];
            argmax.get(out);
            return out;
        }
    }

    /** log(sum exp(x)) of each row (NaN for a row with a NaN or without a finite maximum). */
    public static double[] logNormalizers(Tensor logits) {
        Tensor rows = asRows(logits);
        if (!onKernel(rows)) {
            float[] lse = Tensors.toFloats(rows.logsumexp(new long[] {1}, false));
            double[] out = new double[lse.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = lse[i];
            }
            return out;
        }
        int n = (int) rows.size(0);
        try (IntPointer argmax = new IntPointer(n); DoublePointer lse = new DoublePointer(n)) {
            run(rows, argmax.address(), lse.address());
            double[] out = new double[n];
            lse.get(out);
            return out;
        }
    }

    private static Tensor asRows(Tensor logits) {
        if (!Tensors.is(logits, DType.F32) || logits.dim() < 1 || logits.dim() > 2 || logits.size(-1) == 0) {
            throw new IllegalArgumentException("logits must be fp32 [rows, vocab] or [vocab] with a vocabulary, got "
                    + Arrays.toString(Tensors.shape(logits)) + " " + logits.scalar_type());
        }
        return logits.dim() == 1 ? logits.view(1, -1) : logits;
    }

    private static boolean onKernel(Tensor rows) {
        return NATIVE && rows.is_cpu() && rows.stride(1) == 1 && rows.size(0) > 0;
    }

    private static void run(Tensor rows, long argmax, long logNormalizer) {
        long n = rows.size(0);
        long vocab = rows.size(1);
        long stride = rows.stride(0);
        long address = rows.data_ptr().address();
        KernelThreads.forEachThreadRange(n, (begin, end) -> LogitsKernel.rows(address, stride, vocab, begin, end, argmax, logNormalizer));
    }
}
