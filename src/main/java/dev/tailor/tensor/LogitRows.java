package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Rows of next-token logits [rows, vocab] ([vocab] is one row): each row's greedy token and
 * its log-normaliser log(sum exp(x)), so that a token's log-probability is its logit minus that;
 * for training, each row's cross-entropy against a target and its gradient. On
 * the CPU a native kernel ({@link LogitsKernel}) reads each row two or three times (libtorch's argmax per
 * row and log_softmax took 5 ms of an 80 ms decoding step of 8 rows over a 150k vocabulary);
 * elsewhere, or without the native build, libtorch's ops.
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

    /** Each row's cross-entropy -log softmax(x)[target] and greedy token (as {@link #argmax}). */
    public record CrossEntropy(double[] losses, int[] argmax) {
        public double sum() {
            return Arrays.stream(losses).sum();
        }

        /** How many rows' greedy token is their target. */
        public long correct(long[] targets) {
            long n = 0;
            for (int i = 0; i < targets.length; i++) {
                n += argmax[i] == targets[i] ? 1 : 0;
            }
            return n;
        }
    }

    /**
     * The cross-entropy of each row of bf16 or fp32 logits [rows, vocab] against {@code targets[row]}. With
     * {@code gradScale} != 0 the logits are then overwritten, in their dtype, by the gradient of gradScale
     * times the summed loss, {@code gradScale * (softmax(x) - onehot(target))} computed in fp32, ready for
     * {@code logits.backward(...)}: no fp32 copy, log_softmax or zero-filled gradient of the whole
     * [rows, vocab] is made (4 x 155 MB per 256 rows of a 152k vocabulary), so the caller must not need
     * the logits afterwards. Pass a tensor outside the autograd graph (detached).
     */
    public static CrossEntropy crossEntropy(Tensor logits, long[] targets, double gradScale) {
        if (logits.dim() != 2 || logits.size(0) != targets.length || logits.size(1) == 0
                || !(Tensors.is(logits, DType.BF16) || Tensors.is(logits, DType.F32))) {
            throw new IllegalArgumentException("logits must be bf16 or fp32 [" + targets.length + " targets, vocab], got "
                    + Arrays.toString(Tensors.shape(logits)) + " " + logits.scalar_type());
        }
        long vocab = logits.size(1);
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] < 0 || targets[i] >= vocab) {
                throw new IllegalArgumentException("target " + i + " is " + targets[i] + ", outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (targets.length == 0) {
            return new CrossEntropy(new double[0], new int[0]);
        }
        return onKernel(logits) ? crossEntropyNative(logits, targets, (float) gradScale) : crossEntropyLibtorch(logits, targets, gradScale);
    }

    private static CrossEntropy crossEntropyNative(Tensor logits, long[] targets, float gradScale) {
        int n = targets.length;
        long vocab = logits.size(1);
        long stride = logits.stride(0);
        long address = logits.data_ptr().address();
        boolean bf16 = Tensors.is(logits, DType.BF16);
        try (LongPointer wanted = new LongPointer(targets); DoublePointer loss = new DoublePointer(n); IntPointer argmax = new IntPointer(n)) {
            long t = wanted.address();
            long l = loss.address();
            long a = argmax.address();
            KernelThreads.forEachThreadRange(n, (begin, end) -> {
                if (bf16) {
                    LogitsKernel.crossEntropyBf16(address, stride, vocab, t, l, a, gradScale, begin, end);
                } else {
                    LogitsKernel.crossEntropyF32(address, stride, vocab, t, l, a, gradScale, begin, end);
                }
            });
            double[] losses = new double[n];
            int[] best = new int[n];
            loss.get(losses);
            argmax.get(best);
            return new CrossEntropy(losses, best);
        }
    }

    private static CrossEntropy crossEntropyLibtorch(Tensor logits, long[] targets, double gradScale) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Tensor x = logits.to(torch.ScalarType.Float);
            Tensor wanted = Tensors.fromLongs(targets, targets.length, 1).to(x.device(), torch.ScalarType.Long);
            float[] loss = Tensors.toFloats(x.logsumexp(new long[] {1}, false).sub(x.gather(1, wanted).view(-1)));
            long[] best = Tensors.toLongs(x.argmax(new LongOptional(1), false));
            if (gradScale != 0) {
                Tensor onehot = torch.zeros_like(x).scatter_(1, wanted, Tensors.scalar(1));
                logits.copy_(x.softmax(1).sub(onehot).mul(Tensors.scalar(gradScale)));
            }
            double[] losses = new double[loss.length];
            int[] argmax = new int[best.length];
            for (int i = 0; i < loss.length; i++) {
                losses[i] = loss[i];
                argmax[i] = (int) best[i];
            }
            return new CrossEntropy(losses, argmax);
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
