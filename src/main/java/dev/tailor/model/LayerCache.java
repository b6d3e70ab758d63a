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
     * Where every row queries one token (a decoding step): the positions [from[r], to[r]) of the keys
     * row r attends to; null otherwise (the caller's mask decides).
     */
    default Attended attended() {
        return null;
    }

    /** Per row, the first position attended to and the one after the last. */
    record Attended(int[] from, int[] to) {}

    /** A decoding step's cache: stores through {@code store}, each row attending to {@code attended}. */
    static LayerCache decoding(LayerCache store, Attended attended) {
        return new LayerCache() {
            @Override
            public Tensor[] append(int layer, Tensor k, Tensor v) {
                return store.append(layer, k, v);
            }

            @Override
            public Attended attended() {
                return attended;
            }
        };
    }
}
