package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/** Boolean attention masks (true = may attend), shaped [B or 1, 1, query, key] for SDPA. */
public final class AttentionMasks {
    private AttentionMasks() {}

    /** Plain causal mask for one unpadded sequence of length t. */
    static Tensor causal(int t, Device device) {
        Tensor idx = Tensors.arange(t, device);
        return idx.view(t, 1).ge(idx.view(1, t)).view(1, 1, t, t);
    }

    /** Causal mask for t new tokens at positions [past, past+t) over keys [0, past+t) of one sequence. */
    static Tensor causal(int past, int t, Device device) {
        Tensor keys = Tensors.arange(past + t, device).view(1, past + t);
        Tensor queries = Tensors.arange(t, device).add(Tensors.scalar(past)).view(t, 1);
        return queries.ge(keys).view(1, 1, t, past + t);
    }

    /**
     * One query per row at its own position ({@code positions} int64 [B]) over keys [0, keys): row i
     * sees keys 0..positions[i], so the tails of shorter rows in a shared cache stay hidden.
     */
    static Tensor upTo(Tensor positions, int keys) {
        long b = positions.size(0);
        return Tensors.arange(keys, Device.of(positions)).view(1, keys).le(positions.view(b, 1)).view(b, 1, 1, keys);
    }

    /**
     * Causal mask for T new queries at cache slots [past, past+T) over keys [0, past+T), hiding
     * padding keys ({@code keyValid} [B, past+T], false = pad). Each query may always see its own
     * slot, so a padding query never has an empty row (SDPA would return NaN for it).
     */
    static Tensor causalWithPadding(Tensor keyValid, int past, int t, Device device) {
        long s = keyValid.size(1);
        Tensor keys = Tensors.arange(s, device).view(1, 1, 1, s);
        Tensor queries = Tensors.arange(t, device).add(Tensors.scalar(past)).view(1, 1, t, 1);
        Tensor causal = queries.ge(keys);
        Tensor visible = causal.logical_and(keyValid.view(keyValid.size(0), 1, 1, s));
        return visible.logical_or(queries.eq(keys));
    }
}
