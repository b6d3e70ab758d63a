package dev.tailor.model;

import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Keys and values of every layer for a batch, preallocated for the whole generation
 * ([batch, kv_heads, capacity, head_dim] per layer) and filled in place, so decoding allocates
 * nothing per token for the cache. The owner closes it.
 */
public final class KvCache implements AutoCloseable {
    private final Tensor[] keys;
    private final Tensor[] values;
    private final int capacity;
    private int length;

    KvCache(ModelConfig config, int batch, int capacity, DType dtype, Device device) {
        this.capacity = capacity;
        this.keys = new Tensor[config.numLayers()];
        this.values = new Tensor[config.numLayers()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = Tensors.keep(Tensors.zeros(dtype, device, batch, config.numKvHeads(), capacity, config.headDim()));
            values[i] = Tensors.keep(Tensors.zeros(dtype, device, batch, config.numKvHeads(), capacity, config.headDim()));
        }
    }

    /** Tokens already cached (the slot where the next tokens go). */
    public int length() {
        return length;
    }

    /** Writes this step's keys/values of one layer at [length, length+T) and returns views over [0, length+T). */
    Tensor[] append(int layer, Tensor k, Tensor v) {
        long t = k.size(2);
        if (length + t > capacity) {
            throw new IllegalStateException("KV cache overflow: " + (length + t) + " > " + capacity);
        }
        keys[layer].narrow(2, length, t).copy_(k);
        values[layer].narrow(2, length, t).copy_(v);
        return new Tensor[] {keys[layer].narrow(2, 0, length + t), values[layer].narrow(2, 0, length + t)};
    }

    /** Marks {@code t} more tokens as cached, after every layer appended them. */
    void advance(int t) {
        length += t;
    }

    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            keys[i].close();
            values[i].close();
        }
    }
}
