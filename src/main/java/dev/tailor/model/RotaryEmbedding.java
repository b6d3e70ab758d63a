package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.FusedElementwise;
import dev.tailor.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Rotary position embedding in Hugging Face's layout: rotate_half over split halves (not
 * interleaved pairs), {@code q' = q cos + rotate_half(q) sin} with {@code cos = cos(cat(f, f))}.
 * The cos/sin tables for every position of the context are built once in fp32.
 */
final class RotaryEmbedding implements AutoCloseable {
    private final double[] inverseFrequencies;
    private final int headDim;
    private final int maxPositions;
    private final Device device;
    private Tensor cosTable;
    private Tensor sinTable;
    private int capacity;

    RotaryEmbedding(RopeScaling rope, int headDim, int maxPositions, Device device) {
        this.inverseFrequencies = rope.inverseFrequencies(headDim);
        this.headDim = headDim;
        this.maxPositions = maxPositions;
        this.device = device;
    }

    /** cos and sin for positions [B, T] (all below {@code limit}), shaped [B, 1, T, D] in the given dtype. */
    Tensor[] tables(Tensor positions, int limit, ScalarType dtype) {
        ensureCapacity(limit);
        long[] shape = Tensors.shape(positions);
        Tensor flat = positions.reshape(-1);
        Tensor cos = cosTable.index_select(0, flat).view(shape[0], 1, shape[1], headDim).to(dtype);
        Tensor sin = sinTable.index_select(0, flat).view(shape[0], 1, shape[1], headDim).to(dtype);
        return new Tensor[] {cos, sin};
    }

    /** Tables grow by doubling: a 128k-context model should not pay for 128k positions on a short prompt. */
    private void ensureCapacity(int positions) {
        if (positions <= capacity) {
            return;
        }
        int n = Math.min(maxPositions, Math.max(positions, Math.max(256, capacity * 2)));
        float[] cos = new float[n * headDim];
        float[] sin = new float[n * headDim];
        int half = headDim / 2;
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < half; i++) {
                // transformers multiplies fp32 inv_freq by fp32 positions
                float angle = (float) p * (float) inverseFrequencies[i];
                cos[p * headDim + i] = cos[p * headDim + i + half] = (float) Math.cos(angle);
                sin[p * headDim + i] = sin[p * headDim + i + half] = (float) Math.sin(angle);
            }
        }
        close();
        cosTable = Tensors.keep(Tensors.fromFloats(cos, n, headDim).to(device.torchDevice(), ScalarType.Float));
        sinTable = Tensors.keep(Tensors.fromFloats(sin, n, headDim).to(device.torchDevice(), ScalarType.Float));
        capacity = n;
    }

    static Tensor apply(Tensor x, Tensor cos, Tensor sin) {
        if (FusedElementwise.supportsRotary(x, cos, sin)) { // inference: one native pass for these 6 ops
            return FusedElementwise.rotary(x, cos, sin);
        }
        // rotate_half(x) sin = roll(x) (sign sin) with sign = -1 on the first half: the same products, and a
        // roll's backward is one copy where the two narrows of x each sent back a zero-filled tensor
        long half = x.size(3) / 2;
        Tensor signedSin = Tensors.cat(3, sin.narrow(3, 0, half).neg(), sin.narrow(3, half, half));
        return x.mul(cos).add(x.roll(new long[] {half}, 3).mul(signedSin));
    }

    @Override
    public void close() {
        if (cosTable != null) {
            cosTable.close();
            sinTable.close();
        }
    }
}
