package dev.tailor.tensor;

import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' LlamaRMSNorm for training, with its own backward, where the autograd graph is cut
 * around it (the model's TrainingPass): on the native kernel one pass each way, keeping each row's
 * {@code rsqrt(mean(x^2) + eps)}; autograd ran 8 fp32 ops forward and more backward, 27 ms per
 * [2048, 896] bf16 forward and backward where the kernel takes 2.9. Elsewhere (a GPU, no native
 * build) libtorch's ops on a local graph give the same gradients.
 */
public final class TrainingRmsNorm {
    private TrainingRmsNorm() {}

    /** The normalisation in libtorch ops: fp32 math, rounded to x's dtype, times the weight. */
    public static Tensor libtorch(Tensor x, Tensor weight, double eps) {
        Tensor xf = x.to(torch.ScalarType.Float);
        Tensor variance = xf.mul(xf).mean(new long[] {-1}, true, new ScalarTypeOptional());
        Tensor normed = xf.mul(variance.add(Tensors.scalar(eps)).rsqrt());
        return normed.to(x.scalar_type()).mul(weight);
    }

    /**
     * Normalises x [..., n] (read as it is: its autograd history is not extended); {@link Forward#backward}
     * gives x's gradient and adds the weight's to it where the weight requires one.
     */
    public static Forward forward(Tensor x, Tensor weight, double eps) {
        if (!FusedElementwise.rmsNormFits(x, weight)) {
            Tensor leaf = x.detach().requires_grad_(true);
            return new Forward(libtorch(leaf, weight, eps), x, weight, null, leaf);
        }
        Tensor rstd = torch.empty(new long[] {x.numel() / x.size(-1)}, new TensorOptions(torch.ScalarType.Float),
                new MemoryFormatOptional());
        Tensor out = FusedElementwise.rmsNorm(x, weight, eps, rstd.data_ptr().address());
        return new Forward(out, x, weight, rstd, null);
    }

    /** A forward pass: its output and what its backward needs. */
    public static final class Forward {
        private final Tensor out;
        private final Tensor x;
        private final Tensor weight;
        private final Tensor rstd; // native: each row's rsqrt(mean(x^2) + eps)
        private final Tensor leaf; // libtorch: x as the leaf of the local graph that computed out

        private Forward(Tensor out, Tensor x, Tensor weight, Tensor rstd, Tensor leaf) {
            this.out = out;
            this.x = x;
            this.weight = weight;
            this.rstd = rstd;
            this.leaf = leaf;
        }

        /** x's shape and dtype, outside any autograd graph. */
        public Tensor out() {
            return out.detach();
        }

        /** x's gradient from the gradient of {@link #out}; the weight's is accumulated into its grad where it requires one. */
        public Tensor backward(Tensor dout) {
            Tensors.requireGradientShape("RMSNorm", out, dout);
            if (leaf != null) {
                out.backward(dout, new BoolOptional(), false, new TensorArrayRefOptional());
                return leaf.grad();
            }
            Tensor dy = dout.to(out.scalar_type()).contiguous();
            if (weight.requires_grad()) {
                weight.backward(weightGradient(dy), new BoolOptional(), false, new TensorArrayRefOptional());
            }
            try (NoGradGuard noGrad = new NoGradGuard()) {
                return FusedElementwise.rmsNormBackward(dy, x, weight, rstd);
            }
        }

        /** As autograd's product weight * normed gives it: dy times the normalised x (in x's dtype), summed over rows. */
        private Tensor weightGradient(Tensor dy) {
            try (NoGradGuard noGrad = new NoGradGuard()) {
                long[] rows = Tensors.shape(x);
                rows[rows.length - 1] = 1;
                Tensor normed = x.to(torch.ScalarType.Float).mul(rstd.view(rows)).to(x.scalar_type());
                return dy.mul(normed).reshape(-1, x.size(-1)).sum(new long[] {0}, false, new ScalarTypeOptional());
            }
        }
    }
}
