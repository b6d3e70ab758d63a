package dev.tailor.model;

import org.bytedeco.pytorch.Tensor;

/** Where one forward pass stores each layer's new keys and values, and what its queries attend to. */
interface LayerCache {
    /**
     * Stores this pass's keys/values of {@code layer} ([B, kv_heads, T, head_dim]) and returns the keys
     * and values the queries attend to, the new ones included.
     */
    Tensor[] append(int layer, Tensor k, Tensor v);

    /**
     * Where every row queries one token against a prefix of its own keys (a decoding step): how many
     * positions row r attends to; null otherwise (the caller's mask decides).
     */
    default int[] attendedLengths() {
        return null;
    }
}
