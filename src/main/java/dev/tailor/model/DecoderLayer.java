package dev.tailor.model;

import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * One Llama decoder layer, as transformers computes it:
 * {@code h = x + o(attn(rms1(x)))}, {@code out = h + down(silu(gate(rms2(h))) * up(rms2(h)))}.
 */
final class DecoderLayer implements AutoCloseable {
    final RmsNorm inputNorm;
    final Linear q;
    final Linear k;
    final Linear v;
    final Linear o;
    final RmsNorm postAttentionNorm;
    final Linear gate;
    final Linear up;
    final Linear down;
    private final ModelConfig config;
    private final int index;

    DecoderLayer(ModelConfig config, int index, RmsNorm inputNorm, Linear q, Linear k, Linear v, Linear o,
                 RmsNorm postAttentionNorm, Linear gate, Linear up, Linear down) {
        this.config = config;
        this.index = index;
        this.inputNorm = inputNorm;
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.postAttentionNorm = postAttentionNorm;
        this.gate = gate;
        this.up = up;
        this.down = down;
    }

    Linear[] linears() {
        return new Linear[] {q, k, v, o, gate, up, down};
    }

    long parameterCount() {
        long n = inputNorm.numel() + postAttentionNorm.numel();
        for (Linear l : linears()) {
            n += l.parameterCount();
        }
        return n;
    }

    /**
     * @param x [B, T, hidden]
     * @param rope cos and sin, [B, 1, T, head_dim]
     * @param allowed attention mask [B, 1, T, S] (true = may attend)
     * @param cache the batch's KV cache, or null to attend within x only
     */
    Tensor forward(Tensor x, Tensor[] rope, Tensor allowed, KvCache cache) {
        long b = x.size(0);
        long t = x.size(1);
        int d = config.headDim();
        Tensor h = inputNorm.forward(x);
        Tensor qs = RotaryEmbedding.apply(q.forward(h).view(b, t, config.numHeads(), d).transpose(1, 2), rope[0], rope[1]);
        Tensor ks = RotaryEmbedding.apply(k.forward(h).view(b, t, config.numKvHeads(), d).transpose(1, 2), rope[0], rope[1]);
        Tensor vs = v.forward(h).view(b, t, config.numKvHeads(), d).transpose(1, 2);
        if (cache != null) {
            Tensor[] kv = cache.append(index, ks, vs);
            ks = kv[0];
            vs = kv[1];
        }
        Tensor attended = Tensors.attention(qs, ks, vs, allowed, 1.0 / Math.sqrt(d));
        x = x.add(o.forward(attended.transpose(1, 2).reshape(b, t, (long) config.numHeads() * d)));
        Tensor h2 = postAttentionNorm.forward(x);
        return x.add(down.forward(torch.silu(gate.forward(h2)).mul(up.forward(h2))));
    }

    @Override
    public void close() {
        inputNorm.close();
        postAttentionNorm.close();
        for (Linear l : linears()) {
            l.close();
        }
    }
}
