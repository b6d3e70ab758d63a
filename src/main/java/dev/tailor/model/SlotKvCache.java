package dev.tailor.model;

import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Keys and values for continuous batching: {@code slots} sequences, each with its own length, that
 * join and leave between decoding steps. Per layer one tensor [slots, kv_heads, capacity, head_dim].
 *
 * <p>Why this layout: the decoding sequences are kept in slots 0..n-1 (when one leaves, the caller
 * moves the last one into its slot: one copy of that sequence's cache, once), so a decoding step
 * attends to a view [0, n) x [0, longest) of the cache with no gather or copy, writes each row's new
 * key/value at that row's own position with one indexed copy per layer, and masks each row's unused tail.
 * Copying the batch's caches together every step would move every cached token again per step;
 * paged attention would avoid the masked tails but needs kernels libtorch lacks on CPU. The
 * capacity grows by doubling (one copy per doubling) up to {@code maxLength}, so memory follows the
 * longest sequence held rather than the model's context. The owner closes it.
 */
public final class SlotKvCache implements AutoCloseable {
    private final int kvHeads;
    private final int headDim;
    private final int maxLength;
    private final DType dtype;
    private final Device device;
    private final int[] lengths;
    private final Tensor[] keys;
    private final Tensor[] values;
    private int capacity;

    SlotKvCache(ModelConfig config, int slots, int maxLength, DType dtype, Device device) {
        if (slots < 1 || maxLength < 1) {
            throw new IllegalArgumentException("a slot cache needs at least one slot of one token, got " + slots + " x " + maxLength);
        }
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.maxLength = maxLength;
        this.dtype = dtype;
        this.device = device;
        this.lengths = new int[slots];
        this.keys = new Tensor[config.numLayers()];
        this.values = new Tensor[config.numLayers()];
        this.capacity = Math.min(maxLength, 64);
        try (PointerScope scope = new PointerScope()) {
            for (int i = 0; i < keys.length; i++) {
                keys[i] = Tensors.keep(Tensors.zeros(dtype, device, slots, kvHeads, capacity, headDim));
                values[i] = Tensors.keep(Tensors.zeros(dtype, device, slots, kvHeads, capacity, headDim));
            }
        }
    }

    public int slots() {
        return lengths.length;
    }

    /** The most tokens one slot holds. */
    public int maxLength() {
        return maxLength;
    }

    /** Tokens cached in {@code slot} (the position of its next token). */
    public int length(int slot) {
        return lengths[slot];
    }

    /** Moves the sequence cached in {@code from} to {@code to} (whose content is dropped); {@code from} becomes empty. */
    public void move(int from, int to) {
        int n = lengths[from];
        if (from != to && n > 0) {
            try (PointerScope scope = new PointerScope()) {
                for (int layer = 0; layer < keys.length; layer++) {
                    prefix(keys[layer], to, n).copy_(prefix(keys[layer], from, n));
                    prefix(values[layer], to, n).copy_(prefix(values[layer], from, n));
                }
            }
        }
        lengths[to] = n;
        if (from != to) {
            lengths[from] = 0;
        }
    }

    /** Empties {@code slot}; what it held is masked out from now on and overwritten by its next sequence. */
    public void clear(int slot) {
        lengths[slot] = 0;
    }

    /** The first {@code n} cached tokens of one slot, as a view [1, kv_heads, n, head_dim]. */
    private static Tensor prefix(Tensor cache, int slot, int n) {
        return cache.narrow(0, slot, 1).narrow(2, 0, n);
    }

    /** Where a prefill chunk of {@code t} tokens of the sequence in {@code slot} goes: right after what it holds. */
    LayerCache chunk(int slot, int t) {
        int start = lengths[slot];
        reserve(start + t);
        return (layer, k, v) -> {
            keys[layer].narrow(0, slot, 1).narrow(2, start, t).copy_(k);
            values[layer].narrow(0, slot, 1).narrow(2, start, t).copy_(v);
            return new Tensor[] {prefix(keys[layer], slot, start + t), prefix(values[layer], slot, start + t)};
        };
    }

    /**
     * Where one decoding step of the sequences in slots 0..n-1 goes: row i at its own position, its
     * length; attention reads positions [0, longest) of every row, the caller masking each row's tail.
     */
    LayerCache step(int n, int longest) {
        reserve(longest);
        // each layer's cache seen as rows of head_dim: (slot, head, position) is row (slot * kv_heads + head) * capacity + position.
        // index_copy_ of those rows costs what it copies; scatter_ along the positions took time in proportion to the
        // capacity (0.3 ms per layer and tensor for 8 rows at 512 positions, a sixth of a decoding step)
        long[] rows = new long[n * kvHeads];
        int[] to = new int[n];
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < kvHeads; h++) {
                rows[i * kvHeads + h] = ((long) i * kvHeads + h) * capacity + lengths[i];
            }
            to[i] = lengths[i] + 1; // what the slot holds and the new token
        }
        Tensor index = Tensors.fromLongs(rows, rows.length).to(device.torchDevice(), torch.ScalarType.Long);
        return LayerCache.decoding((layer, k, v) -> {
            keys[layer].view(-1, headDim).index_copy_(0, index, k.reshape(-1, headDim));
            values[layer].view(-1, headDim).index_copy_(0, index, v.reshape(-1, headDim));
            return new Tensor[] {keys[layer].narrow(0, 0, n).narrow(2, 0, longest), values[layer].narrow(0, 0, n).narrow(2, 0, longest)};
        }, new LayerCache.Attended(new int[n], to));
    }

    /** Records {@code t} more tokens in {@code slot}, after every layer stored them. */
    void advance(int slot, int t) {
        lengths[slot] += t;
    }

    /** Grows every slot to hold {@code length} tokens, doubling so that a growing sequence copies the cache rarely. */
    private void reserve(int length) {
        if (length > maxLength) {
            throw new IllegalStateException("slot cache overflow: " + length + " tokens > " + maxLength);
        }
        if (length <= capacity) {
            return;
        }
        int grown = Math.min(maxLength, Math.max(length, capacity * 2));
        try (PointerScope scope = new PointerScope()) {
            for (int i = 0; i < keys.length; i++) {
                keys[i] = grow(keys[i], grown);
                values[i] = grow(values[i], grown);
            }
        }
        capacity = grown;
    }

    private Tensor grow(Tensor old, int grown) {
        Tensor bigger = Tensors.zeros(dtype, device, lengths.length, kvHeads, grown, headDim);
        bigger.narrow(2, 0, capacity).copy_(old);
        old.close();
        return Tensors.keep(bigger);
    }

    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            keys[i].close();
            values[i].close();
        }
    }
}
