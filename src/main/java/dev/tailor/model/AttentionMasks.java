package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/** Boolean attention masks (true = may attend), shaped [B or 1, 1, query, key] for SDPA. */
final class AttentionMasks {
    private AttentionMasks() {}

    /** Plain causal mask for one unpadded sequence of length t. */
    static Tensor causal(int t, Device device) {
        Tensor idx = Tensors.arange(t, device);
        return idx.view(t, 1).ge(idx.view(1, t)).view(1, 1, t, t);
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
