package dev.tailor.model;

import dev.tailor.tensor.FusedElementwise;
import dev.tailor.tensor.TrainingRmsNorm;
import org.bytedeco.pytorch.Tensor;

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
        return TrainingRmsNorm.libtorch(x, weight, eps);
    }

    /** Training's forward pass, cut from the autograd graph, with its own backward. */
    TrainingRmsNorm.Forward forTraining(Tensor x) {
        return TrainingRmsNorm.forward(x, weight, eps);
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
