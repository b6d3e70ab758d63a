package dev.tailor.model;

import dev.tailor.tensor.FusedElementwise;
import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** LlamaRMSNorm: normalise in fp32, cast back to the input dtype, then multiply by the weight. */
final class RmsNorm implements AutoCloseable {
    private final Tensor weight;
    private final double eps;

    RmsNorm(Tensor weight, double eps) {
        this.weight = weight;
        this.eps = eps;
    }

    Tensor forward(Tensor x) {
        if (FusedElementwise.supportsRmsNorm(x, weight)) { // inference: one native pass for these 8 ops
            return FusedElementwise.rmsNorm(x, weight, eps);
        }
        Tensor xf = x.to(torch.ScalarType.Float);
        Tensor variance = xf.mul(xf).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
        Tensor normed = xf.mul(variance.add(Tensors.scalar(eps)).rsqrt());
        return normed.to(x.scalar_type()).mul(weight);
    }

    Tensor weight() {
        return weight;
    }

    long numel() {
        return weight.numel();
    }

    @Override
    public void close() {
        weight.close();
    }
}
