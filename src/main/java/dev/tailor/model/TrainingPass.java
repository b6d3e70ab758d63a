package dev.tailor.model;

import dev.tailor.tensor.SegmentAttention;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Training's forward pass over a batch of (packed) rows, and its backward. Attention runs on
 * {@link SegmentAttention}, which computes only the pairs within each example and brings its own
 * backward, and so do the norms and the MLP's activation ({@link dev.tailor.tensor.TrainingRmsNorm},
 * {@link dev.tailor.tensor.TrainingSiluMul}), so the autograd graph is cut at each decoder layer's
 * input and at those steps ({@link DecoderLayer.Cut}); {@link #backward} walks the layers from the
 * top: autograd within each piece, the hand-written backward passes between them. Every trainable
 * weight receives the gradient one autograd pass through the whole model would give it.
 */
public final class TrainingPass {
    private final Tensor embedded;
    private final DecoderLayer.Cut[] cuts;
    private final Tensor hidden;

    private TrainingPass(Tensor embedded, DecoderLayer.Cut[] cuts, Tensor hidden) {
        this.embedded = embedded;
        this.cuts = cuts;
        this.hidden = hidden;
    }

    static TrainingPass run(Model model, Tensor ids, Tensor positions, SegmentAttention.Segments segments, int maxPosition) {
        Tensor embedded = torch.embedding(model.embedding, ids);
        Tensor[] rope = model.ropeTables(positions, maxPosition, embedded);
        DecoderLayer.Cut[] cuts = new DecoderLayer.Cut[model.layers.length];
        Tensor x = embedded;
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = model.layers[i].forward(x.detach().requires_grad_(x.requires_grad()), rope, segments);
            x = cuts[i].output();
        }
        return new TrainingPass(embedded, cuts, model.norm.forward(x));
    }

    /** The final hidden states [rows, length, hidden], after the final norm. */
    public Tensor hidden() {
        return hidden;
    }

    /**
     * Backpropagates {@code grad}, the gradient of {@code from} (a tensor computed from {@link #hidden}),
     * through the model into every trainable weight.
     */
    public void backward(Tensor from, Tensor grad) {
        from.backward(grad, new BoolOptional(), false, new TensorArrayRefOptional());
        for (int i = cuts.length - 1; i >= 0; i--) {
            // the layer's gradients (attention's, the norms', silu's: 100 MB and more) freed before the next layer's
            try (PointerScope layer = new PointerScope()) {
                Tensor gradient = cuts[i].backward();
                Tensor below = i > 0 ? cuts[i - 1].output() : embedded;
                if (below.requires_grad() && gradient.defined()) {
                    below.backward(gradient, new BoolOptional(), false, new TensorArrayRefOptional());
                }
            }
        }
    }
}
