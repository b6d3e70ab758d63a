package dev.tailor.tensor;

import java.util.Arrays;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * The MLP's {@code silu(gate) * up} for training, with its own backward, where the autograd graph is
 * cut around it (the model's TrainingPass): on the native kernel one pass each way over the
 * [tokens, intermediate] tensors where autograd's silu, product and their backward took five, from
 * the fused gate/up product's output straight to its gradient (splitting it into gate and up cost
 * one more copy backward). Elsewhere (a GPU, no native build) libtorch's ops on a local graph give
 * the same gradients.
 */
public final class TrainingSiluMul {
    private TrainingSiluMul() {}

    /**
     * silu(gate) * up of gateUp [..., 2n] holding gate and up side by side (a fused gate/up product's
     * output), read as it is (its autograd history is not extended).
     */
    public static Forward forward(Tensor gateUp) {
        long n = gateUp.size(-1) / 2;
        if (gateUp.size(-1) != 2 * n) {
            throw new IllegalArgumentException("gate and up side by side need an even last dimension, got "
                    + Arrays.toString(Tensors.shape(gateUp)));
        }
        Tensor detached = gateUp.detach();
        Tensor gate = detached.narrow(-1, 0, n);
        Tensor up = detached.narrow(-1, n, n);
        if (!FusedElementwise.siluMulFits(gate, up)) {
            Tensor leaf = gateUp.detach().requires_grad_(true); // its own detached handle: gate and up stay without gradients
            return new Forward(torch.silu(leaf.narrow(-1, 0, n)).mul(leaf.narrow(-1, n, n)), gate, up, leaf);
        }
        return new Forward(FusedElementwise.siluMul(gate, up), gate, up, null);
    }

    /** A forward pass: its output and what its backward needs. */
    public static final class Forward {
        private final Tensor out;
        private final Tensor gate;
        private final Tensor up;
        private final Tensor leaf; // libtorch: gateUp as the leaf of the local graph that computed out

        private Forward(Tensor out, Tensor gate, Tensor up, Tensor leaf) {
            this.out = out;
            this.gate = gate;
            this.up = up;
            this.leaf = leaf;
        }

        /** gate's shape and dtype, outside any autograd graph. */
        public Tensor out() {
            return out.detach();
        }

        /** The gradient of gateUp [..., 2n] from the gradient of {@link #out}. */
        public Tensor backward(Tensor dout) {
            Tensors.requireGradientShape("silu(gate) * up", out, dout);
            if (leaf != null) {
                out.backward(dout, new BoolOptional(), false, new TensorArrayRefOptional());
                return leaf.grad();
            }
            try (NoGradGuard noGrad = new NoGradGuard()) {
                return FusedElementwise.siluMulBackward(gate, up, dout.to(out.scalar_type()).contiguous());
            }
        }
    }
}
