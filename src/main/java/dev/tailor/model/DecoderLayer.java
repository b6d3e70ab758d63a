package dev.tailor.model;

import dev.tailor.tensor.DecodeAttention;
import dev.tailor.tensor.FusedElementwise;
import dev.tailor.tensor.SegmentAttention;
import dev.tailor.tensor.Tensors;
import dev.tailor.tensor.TrainingRmsNorm;
import dev.tailor.tensor.TrainingSiluMul;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * One Llama decoder layer, as transformers computes it:
 * {@code h = x + o(attn(rms1(x)))}, {@code out = h + down(silu(gate(rms2(h))) * up(rms2(h)))}.
 */
final class DecoderLayer implements AutoCloseable {
    final RmsNorm inputNorm;
    final FusedLinear qkv;
    final Linear o;
    final RmsNorm postAttentionNorm;
    final FusedLinear gateUp;
    final Linear down;
    private final ModelConfig config;
    private final int index;

    /** @param qkv q_proj, k_proj, v_proj fused; @param gateUp gate_proj, up_proj fused */
    DecoderLayer(ModelConfig config, int index, RmsNorm inputNorm, FusedLinear qkv, Linear o,
                 RmsNorm postAttentionNorm, FusedLinear gateUp, Linear down) {
        this.config = config;
        this.index = index;
        this.inputNorm = inputNorm;
        this.qkv = qkv;
        this.o = o;
        this.postAttentionNorm = postAttentionNorm;
        this.gateUp = gateUp;
        this.down = down;
    }

    /** The modules of each matrix product of this layer, in output order (q/k/v and gate/up are fused). */
    List<Linear[]> products() {
        return List.of(qkv.parts, new Linear[] {o}, gateUp.parts, new Linear[] {down});
    }

    /** q, k, v, o, gate, up, down: the layer's linear modules by their Hugging Face roles. */
    Linear[] linears() {
        return new Linear[] {qkv.parts[0], qkv.parts[1], qkv.parts[2], o, gateUp.parts[0], gateUp.parts[1], down};
    }

    long parameterCount() {
        return inputNorm.numel() + postAttentionNorm.numel() + qkv.parameterCount() + o.parameterCount()
                + gateUp.parameterCount() + down.parameterCount();
    }

    /**
     * This layer's weights under their Hugging Face names, or with {@code fusedAsOne} the tensors
     * that own them (q/k/v and gate/up each as one fused tensor), which full fine-tuning trains.
     */
    void collectWeights(Map<String, Tensor> out, boolean fusedAsOne) {
        String p = "model.layers." + index + ".";
        out.put(p + "input_layernorm.weight", inputNorm.weight());
        qkv.collectWeights(out, fusedAsOne);
        o.collectWeights(out);
        out.put(p + "post_attention_layernorm.weight", postAttentionNorm.weight());
        gateUp.collectWeights(out, fusedAsOne);
        down.collectWeights(out);
    }

    long linearParameters() {
        return qkv.parameterCount() + o.parameterCount() + gateUp.parameterCount() + down.parameterCount();
    }

    long linearBytes() {
        return qkv.residentBytes() + o.residentBytes() + gateUp.residentBytes() + down.residentBytes();
    }

    /**
     * @param x [B, T, hidden]
     * @param rope cos and sin, [B, 1, T, head_dim]
     * @param allowed attention mask [B, 1, T, S] (true = may attend)
     * @param cache where the keys/values go and what is attended to, or null to attend within x only
     * @param adapters each row's adapter for this pass, or null for the attached adapter (if any)
     */
    Tensor forward(Tensor x, Tensor[] rope, Tensor allowed, LayerCache cache, RowAdapters adapters) {
        Tensor[] projected = qkv.forward(inputNorm.forward(x), adapters);
        Tensor attended = attend(projected[0], projected[1], projected[2], x.size(0), x.size(1), rope[0], rope[1], allowed, cache);
        return mlp(x.add(o.forward(attended, adapters)), adapters);
    }

    /**
     * Rows of several sequences in one pass, x [rows, 1, hidden]: the linear layers run once over all
     * rows, attention per segment (each with its own positions, mask and cache).
     */
    Tensor forward(Tensor x, List<Segment> segments, RowAdapters adapters) {
        Tensor[] projected = qkv.forward(inputNorm.forward(x), adapters);
        Tensor[] parts = new Tensor[segments.size()];
        for (int i = 0; i < parts.length; i++) {
            Segment s = segments.get(i);
            long rows = s.b() * s.t();
            parts[i] = attend(projected[0].narrow(0, s.first(), rows), projected[1].narrow(0, s.first(), rows),
                    projected[2].narrow(0, s.first(), rows), s.b(), s.t(), s.cos(), s.sin(), s.allowed(), s.cache()).reshape(rows, 1, -1);
        }
        return mlp(x.add(o.forward(Tensors.cat(0, parts), adapters)), adapters);
    }

    /**
     * Training's pass through this layer (see {@link TrainingPass}), its autograd graph cut at the steps
     * that run outside autograd with backward passes of their own: the norms ({@link TrainingRmsNorm}),
     * attention ({@link SegmentAttention}) and the MLP's activation ({@link TrainingSiluMul}). Their
     * outputs enter the rest of the layer as leaves; {@code input} is a leaf of the caller's making.
     */
    Cut forward(Tensor input, Tensor[] rope, SegmentAttention.Segments segments) {
        Norm first = Norm.of(inputNorm, input);
        Tensor[] projected = qkv.forward(first.out(), null);
        Tensor[] heads = heads(projected[0], projected[1], projected[2], input.size(0), input.size(1), rope[0], rope[1]);
        SegmentAttention.Forward attention = SegmentAttention.forward(heads[0], heads[1], heads[2], segments, 1.0 / Math.sqrt(config.headDim()));
        Hop attend = Hop.of(heads, attention.out(), attention::backward);
        Tensor residual = input.add(o.forward(attend.leaf(), null));
        Tensor mid = residual.detach().requires_grad_(residual.requires_grad());
        Norm second = Norm.of(postAttentionNorm, mid);
        Tensor gateAndUp = gateUp.forwardJoined(second.out());
        TrainingSiluMul.Forward silu = TrainingSiluMul.forward(gateAndUp);
        Hop activate = Hop.of(new Tensor[] {gateAndUp}, silu.out(), gradient -> new Tensor[] {silu.backward(gradient)});
        return new Cut(input, first, attend, residual, mid, second, activate, mid.add(down.forward(activate.leaf(), null)));
    }

    /** A norm of training's pass: its forward, and its output as a leaf. */
    private record Norm(TrainingRmsNorm.Forward pass, Tensor out) {
        static Norm of(RmsNorm norm, Tensor x) {
            TrainingRmsNorm.Forward pass = norm.forTraining(x);
            return new Norm(pass, pass.out().requires_grad_(x.requires_grad() || norm.weight().requires_grad()));
        }

        /** Once the output holds its gradient: the norm's backward, its gradient of x accumulated into x (a leaf). */
        void backward(Tensor x) {
            Tensor gradient = out.grad();
            if (gradient.defined()) {
                Tensor dx = pass.backward(gradient);
                if (x.requires_grad()) {
                    x.backward(dx, new BoolOptional(), false, new TensorArrayRefOptional());
                }
            }
        }
    }

    /** A step outside autograd from graph tensors ({@code roots}) to a leaf, with the step's backward. */
    private record Hop(Tensor[] roots, Tensor leaf, Function<Tensor, Tensor[]> step) {
        static Hop of(Tensor[] roots, Tensor out, Function<Tensor, Tensor[]> backward) {
            return new Hop(roots, out.requires_grad_(Arrays.stream(roots).anyMatch(Tensor::requires_grad)), backward);
        }

        /** Once the leaf holds its gradient: the step's backward, then autograd from the roots. */
        void backward() {
            Tensor gradient = leaf.grad();
            if (!gradient.defined()) {
                return;
            }
            Tensor[] grads = step.apply(gradient);
            List<Tensor> from = new ArrayList<>();
            List<Tensor> fromGrads = new ArrayList<>();
            for (int i = 0; i < roots.length; i++) {
                if (roots[i].requires_grad()) {
                    from.add(roots[i]);
                    fromGrads.add(grads[i]);
                }
            }
            torch.backward(new TensorVector(from.toArray(new Tensor[0])), new TensorVector(fromGrads.toArray(new Tensor[0])),
                    new BoolOptional(), false, new TensorVector());
        }
    }

    /**
     * One layer of {@link TrainingPass}: its input (a leaf), the input norm, attention, the residual sum
     * computed from the input and attention's output, its leaf copy (the second norm's input and the MLP's
     * residual), the second norm, the MLP's activation, and the layer's output.
     */
    record Cut(Tensor input, Norm first, Hop attend, Tensor residual, Tensor mid, Norm second, Hop activate, Tensor output) {
        /**
         * Once the layers above have sent their gradient to {@link #output} and autograd has run from it:
         * each piece's backward from the top down. Returns the gradient of {@link #input} (undefined where it has none).
         */
        Tensor backward() {
            activate.backward();
            second.backward(mid);
            Tensor gradient = mid.grad();
            if (residual.requires_grad() && gradient.defined()) {
                residual.backward(gradient, new BoolOptional(), false, new TensorArrayRefOptional());
            }
            attend.backward();
            first.backward(input);
            return input.grad();
        }
    }

    /** q and k [b, heads, t, head_dim] with the rotary embedding applied, v [b, kv_heads, t, head_dim], from projections [b * t rows, width]. */
    private Tensor[] heads(Tensor q, Tensor k, Tensor v, long b, long t, Tensor cos, Tensor sin) {
        int d = config.headDim();
        return new Tensor[] {
            RotaryEmbedding.apply(q.view(b, t, config.numHeads(), d).transpose(1, 2), cos, sin),
            RotaryEmbedding.apply(k.view(b, t, config.numKvHeads(), d).transpose(1, 2), cos, sin),
            v.view(b, t, config.numKvHeads(), d).transpose(1, 2)
        };
    }

    /** Attention of b sequences of t tokens, from their q, k, v projections [b * t rows, width]: [b, t, heads * head_dim]. */
    private Tensor attend(Tensor q, Tensor k, Tensor v, long b, long t, Tensor cos, Tensor sin, Tensor allowed, LayerCache cache) {
        int d = config.headDim();
        Tensor[] heads = heads(q, k, v, b, t, cos, sin);
        Tensor qs = heads[0];
        Tensor ks = heads[1];
        Tensor vs = heads[2];
        LayerCache.Attended ranges = null;
        if (cache != null) {
            Tensor[] kv = cache.append(index, ks, vs);
            ks = kv[0];
            vs = kv[1];
            ranges = cache.attended();
        }
        Tensor attended = ranges != null && DecodeAttention.supports(qs, ks, vs)
                ? DecodeAttention.attend(qs, ks, vs, ranges.from(), ranges.to(), 1.0 / Math.sqrt(d)) // a decoding step: one native call
                : Tensors.attention(qs, ks, vs, allowed, 1.0 / Math.sqrt(d));
        return attended.transpose(1, 2).reshape(b, t, (long) config.numHeads() * d);
    }

    /** The layer's second half, residual included: {@code x + down(silu(gate(rms2(x))) * up(rms2(x)))}. */
    private Tensor mlp(Tensor x, RowAdapters adapters) {
        return x.add(feedForward(postAttentionNorm.forward(x), adapters));
    }

    /** {@code down(silu(gate(normed)) * up(normed))}. */
    private Tensor feedForward(Tensor normed, RowAdapters adapters) {
        Tensor[] gateAndUp = gateUp.forward(normed, adapters);
        Tensor gate = gateAndUp[0];
        Tensor up = gateAndUp[1];
        Tensor activated = FusedElementwise.supportsSiluMul(gate, up) ? FusedElementwise.siluMul(gate, up) : torch.silu(gate).mul(up);
        return down.forward(activated, adapters);
    }

    @Override
    public void close() {
        inputNorm.close();
        postAttentionNorm.close();
        qkv.close();
        o.close();
        gateUp.close();
        down.close();
    }
}
