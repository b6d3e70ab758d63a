package dev.tailor.train;

import dev.tailor.tensor.Tensors;
import java.util.Collection;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/** Gradient-norm clipping as {@code torch.nn.utils.clip_grad_norm_} with {@code norm_type=2}. */
public final class GradientClipping {
    private GradientClipping() {}

    /**
     * Returns the L2 norm of all gradients together (parameters whose grad is undefined are
     * skipped) and, when {@code maxNorm > 0} and {@code maxNorm / (norm + 1e-6) < 1}, scales every
     * gradient in place by that factor. The norm and factor are computed with the same tensor ops
     * as torch (per-tensor norms, the norm of their stack, {@code reciprocal() * max_norm}), so the
     * scaled gradients match torch's bit for bit on the same device. {@code maxNorm <= 0} only
     * measures. Returns 0 when no parameter has a gradient.
     */
    public static double clip(Collection<Tensor> parameters, double maxNorm) {
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            TensorVector grads = new TensorVector();
            TensorVector norms = new TensorVector();
            for (Tensor p : parameters) {
                Tensor grad = p.grad();
                if (grad.defined()) {
                    grads.push_back(grad);
                    norms.push_back(torch.linalg_vector_norm(grad));
                }
            }
            if (grads.empty()) {
                return 0.0;
            }
            Tensor total = torch.linalg_vector_norm(torch.stack(norms));
            double totalNorm = total.item_double();
            if (maxNorm > 0) {
                Tensor coefficient = total.add(Tensors.scalar(1e-6)).reciprocal().mul(Tensors.scalar(maxNorm));
                if (coefficient.item_double() < 1.0) {
                    for (long i = 0; i < grads.size(); i++) {
                        grads.get(i).mul_(coefficient);
                    }
                }
            }
            return totalNorm;
        }
    }
}
