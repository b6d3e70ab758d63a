package dev.tailor.tensor;

import dev.tailor.TailorException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * A frozen weight stored as QLoRA stores it: 4-bit NormalFloat codes in blocks of 64 with
 * double-quantized absmax, as bitsandbytes' {@code quantize_4bit(quant_type="nf4",
 * compress_statistics=True)} computes them. About 0.516 bytes per parameter instead of 2 for bf16.
 *
 * <p>Per block of 64 (the last one padded with zeros): {@code absmax = max|w|} in fp32, and each
 * {@code w * (1/absmax)} gets the code of the nearest NF4 value, found with bitsandbytes' 15
 * decision thresholds (a value above a threshold takes the upper code; one exactly on it the
 * lower). Element 2j is the high nibble of byte j, 2j+1 the low one. The absmax values are then
 * centred on their mean and quantized to 8 bits in blocks of 256 with the signed dynamic map
 * (nearest value; an exact midpoint goes to the lower one, where bitsandbytes' binary search
 * depends on its path), one fp32 scale per block. Two deliberate differences from bitsandbytes:
 * a block of zeros gets the code of 0.0 (bitsandbytes compares NaN and picks -1.0), so it
 * dequantizes to exactly zero; the offset is the float64 mean rounded to fp32.
 *
 * <p>Everything runs as libtorch ops on the weight's device. Not thread-safe.
 */
public final class Nf4Tensor implements AutoCloseable {
    public static final int BLOCK_SIZE = 64;
    static final int ABSMAX_BLOCK_SIZE = 256;
    /** Blocks quantized per pass: bounds the fp32 temporaries at 4 MB whatever the weight's size. */
    private static final long BLOCKS_PER_PASS = 1 << 14;

    /** The NF4 values, index 0..15 (SPECS.md; bitsandbytes' dDequantizeNF4). */
    static final float[] NF4 = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    /** bitsandbytes' dQuantizeNF4 thresholds (midpoints of neighbouring codes), ascending. */
    private static final float[] NF4_THRESHOLDS = {
        -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
        -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
        0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
        0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
    private static final float[] DYNAMIC_MAP = signedDynamicMap();
    private static final Map<String, Tables> TABLES = new ConcurrentHashMap<>();

    private final long[] shape;
    private final long numel;
    private final long blocks;
    private final Tensor packed;     // uint8 [blocks * 32]
    private final Tensor quantizedAbsmax; // uint8 [absmax blocks * 256], the padding past `blocks` unused
    private final Tensor absmaxScales;    // fp32 [absmax blocks]
    private final Tensor absmaxOffset;    // fp32, 0-dim
    private boolean closed;

    private Nf4Tensor(long[] shape, long numel, Tensor packed, Tensor quantizedAbsmax, Tensor absmaxScales,
            Tensor absmaxOffset) {
        this.shape = shape;
        this.numel = numel;
        this.blocks = ceilDiv(numel, BLOCK_SIZE);
        this.packed = packed;
        this.quantizedAbsmax = quantizedAbsmax;
        this.absmaxScales = absmaxScales;
        this.absmaxOffset = absmaxOffset;
    }

    /** Quantizes a floating-point tensor (any shape, F32/BF16/F16, any device) to NF4 with double-quantized absmax. Does not take ownership of weight. */
    public static Nf4Tensor quantize(Tensor weight) {
        long[] shape = Tensors.shape(weight);
        checkQuantizable(weight, shape);
        long numel = weight.numel();
        long blocks = ceilDiv(numel, BLOCK_SIZE);
        try (PointerScope scope = new PointerScope()) {
            Tables tables = tables(weight);
            Tensor flat = weight.detach().reshape(-1); // kept results must not hold an autograd graph of the weight
            Tensor packed = torch.empty(new long[] {blocks * BLOCK_SIZE / 2}, like(weight, torch.ScalarType.Byte), new MemoryFormatOptional());
            Tensor absmax = torch.empty(new long[] {blocks}, like(weight, torch.ScalarType.Float), new MemoryFormatOptional());
            for (long first = 0; first < blocks; first += BLOCKS_PER_PASS) {
                long count = Math.min(BLOCKS_PER_PASS, blocks - first);
                long start = first * BLOCK_SIZE;
                Tensor values = flat.narrow(0, start, Math.min(count * BLOCK_SIZE, numel - start)).to(torch.ScalarType.Float);
                Tensor[] codesAndAbsmax = quantizeBlocks(values, count, tables);
                packed.narrow(0, first * BLOCK_SIZE / 2, count * BLOCK_SIZE / 2).copy_(codesAndAbsmax[0]);
                absmax.narrow(0, first, count).copy_(codesAndAbsmax[1]);
            }
            if (!absmax.isfinite().all().item_bool()) {
                throw new TailorException("cannot quantize a weight of shape " + Arrays.toString(shape)
                        + " to NF4: it contains NaN or infinite values; the checkpoint is corrupt or comes from a diverged run");
            }
            // offset: float64 mean rounded once, so the value does not depend on the summation order
            Tensor offset = absmax.to(torch.ScalarType.Double).mean().to(torch.ScalarType.Float);
            Tensor[] absmaxCodesAndScales = quantizeAbsmax(absmax.sub(offset), tables);
            return new Nf4Tensor(shape, numel, Tensors.keep(packed), Tensors.keep(absmaxCodesAndScales[0]),
                    Tensors.keep(absmaxCodesAndScales[1]), Tensors.keep(offset));
        }
    }

    /** The dequantized tensor in the original shape, in dtype (BF16 or F32), on the same device; a new tensor owned by the caller's scope. */
    public Tensor dequantize(DType dtype) {
        checkOpen();
        if (!(dtype == DType.F32 || dtype == DType.BF16 || dtype == DType.F16)) {
            throw new TailorException("cannot dequantize NF4 weights to " + dtype.safetensorsName + "; use f32 or bf16");
        }
        PointerScope callerScope = PointerScope.getInnerScope();
        Tensor result;
        try (PointerScope scope = new PointerScope()) {
            Tables tables = tables(packed);
            long absmaxBlocks = absmaxScales.size(0);
            // absmax = code2[q] * scale2 + offset, as separate fp32 ops like bitsandbytes' dequantize_blockwise
            Tensor absmax = tables.dynamicMap.index_select(0, quantizedAbsmax.to(torch.ScalarType.Int))
                    .view(absmaxBlocks, ABSMAX_BLOCK_SIZE).mul(absmaxScales.unsqueeze(1))
                    .view(-1).narrow(0, 0, blocks).add(absmaxOffset);
            // One 8-byte lookup per code byte yields both of its fp32 values: 1.9 ms for 896x4864,
            // where unpacking nibbles into a 16-entry table, or rows of a [256, 2] table, took 5.1.
            Tensor values = tables.nf4Pairs.index_select(0, packed.to(torch.ScalarType.Int))
                    .view(torch.ScalarType.Float).view(blocks, BLOCK_SIZE).mul_(absmax.unsqueeze(1));
            // a bf16 result is the fp32 product rounded once, as in bitsandbytes' kernel
            result = Tensors.keep(values.view(-1).narrow(0, 0, numel).view(shape).to(dtype.scalarType()));
        }
        if (callerScope != null) {
            callerScope.attach(result); // the scope now holds the only reference
            result.releaseReference();
        }
        return result;
    }

    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        return numel;
    }

    /** Bytes of native memory this object keeps (packed codes + quantized absmax + second-level scales/offset). */
    public long residentBytes() {
        return packed.nbytes() + quantizedAbsmax.nbytes() + absmaxScales.nbytes() + absmaxOffset.nbytes();
    }

    /** The packed 4-bit codes, uint8 [blocks * 32], for tests. */
    Tensor packedCodes() {
        checkOpen();
        return packed;
    }

    /** The 8-bit absmax codes, uint8, one per block of 64 followed by padding to a multiple of 256, for tests. */
    Tensor quantizedAbsmax() {
        checkOpen();
        return quantizedAbsmax;
    }

    /** The fp32 scale of each block of 256 absmax codes, for tests. */
    Tensor absmaxScales() {
        checkOpen();
        return absmaxScales;
    }

    /** The mean of the absmax values subtracted before their quantization, fp32 0-dim, for tests. */
    Tensor absmaxOffset() {
        checkOpen();
        return absmaxOffset;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            packed.close();
            quantizedAbsmax.close();
            absmaxScales.close();
            absmaxOffset.close();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("NF4 tensor of shape " + Arrays.toString(shape) + " used after close()");
        }
    }

    private static void checkQuantizable(Tensor weight, long[] shape) {
        DType dtype;
        try {
            dtype = Tensors.dtype(weight);
        } catch (IllegalArgumentException e) {
            dtype = null;
        }
        if (dtype == null || !dtype.isFloatingPoint()) {
            String name = dtype == null ? weight.scalar_type().toString() : dtype.safetensorsName;
            throw new TailorException("cannot quantize a " + name + " tensor of shape " + Arrays.toString(shape)
                    + " to NF4: only floating-point weights (F32, BF16, F16) can be; leave this tensor unquantized");
        }
        if (weight.numel() == 0) {
            throw new TailorException("cannot quantize an empty tensor (shape " + Arrays.toString(shape)
                    + ") to NF4; check the shape of this weight in the checkpoint");
        }
    }

    /** Codes (uint8 [count * 32]) and absmax (fp32 [count]) of up to count * 64 fp32 values. */
    private static Tensor[] quantizeBlocks(Tensor values, long count, Tables tables) {
        Tensor rows = padTo(values, count * BLOCK_SIZE).view(count, BLOCK_SIZE);
        Tensor absmax = rows.abs().amax(new long[] {1}, false);
        Tensor scaled = rows.mul(safeInverse(absmax).unsqueeze(1));
        Tensor codes = torch.bucketize(scaled, tables.nf4Thresholds, true, false)
                .to(torch.ScalarType.Byte).view(count * BLOCK_SIZE / 2, 2);
        Tensor bytes = codes.select(1, 0).bitwise_left_shift(new Scalar(4L)).bitwise_or(codes.select(1, 1));
        return new Tensor[] {bytes, absmax};
    }

    /** Codes (uint8, padded to a multiple of 256) and scales (fp32, one per 256) of the centred absmax values. */
    private static Tensor[] quantizeAbsmax(Tensor centred, Tables tables) {
        long absmaxBlocks = ceilDiv(centred.numel(), ABSMAX_BLOCK_SIZE);
        Tensor rows = padTo(centred, absmaxBlocks * ABSMAX_BLOCK_SIZE).view(absmaxBlocks, ABSMAX_BLOCK_SIZE);
        Tensor scales = rows.abs().amax(new long[] {1}, false);
        Tensor scaled = rows.mul(safeInverse(scales).unsqueeze(1));
        Tensor codes = torch.bucketize(scaled, tables.dynamicMidpoints, true, false).to(torch.ScalarType.Byte).view(-1);
        return new Tensor[] {codes, scales};
    }

    /** 1/x in fp32 as bitsandbytes computes it, but 0 where x is 0 so that a block of zeros maps to 0.0. */
    private static Tensor safeInverse(Tensor x) {
        return x.reciprocal().masked_fill(x.eq(Tensors.scalar(0)), Tensors.scalar(0));
    }

    private static Tensor padTo(Tensor flat, long length) {
        return flat.numel() == length ? flat : torch.constant_pad_nd(flat, 0, length - flat.numel());
    }

    private static TensorOptions like(Tensor t, torch.ScalarType type) {
        return new TensorOptions(type).device(new DeviceOptional(t.device()));
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /**
     * bitsandbytes' create_dynamic_map(signed=True): 127 positive and 127 negative values with a
     * decimal exponent from 1e-6 to 1 and linearly spaced fractions, plus 0 and 1, ascending. The
     * fractions are torch.linspace(0.1, 1, 2^i + 1) in fp32, which computes start + step * i with
     * one rounding (fused) on CPUs with FMA; Math.fma reproduces it on any CPU.
     */
    static float[] signedDynamicMap() {
        float[] map = new float[256];
        int n = 0;
        float[] scales = {1e-6f, 1e-5f, 1e-4f, 1e-3f, 1e-2f, 1e-1f, 1f};
        for (int i = 0; i < scales.length; i++) {
            float scale = scales[i];
            float[] boundaries = linspace(0.1f, 1.0f, (1 << i) + 1);
            for (int j = 0; j + 1 < boundaries.length; j++) {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2.0f;
                map[n++] = scale * mean;
                map[n++] = -scale * mean;
            }
        }
        map[n++] = 0.0f;
        map[n] = 1.0f;
        Arrays.sort(map);
        return map;
    }

    /** ATen's CPU linspace kernel for fp32: counted from the start below half-way, from the end above. */
    private static float[] linspace(float start, float end, int steps) {
        float step = (end - start) / (steps - 1);
        float[] values = new float[steps];
        for (int i = 0; i < steps; i++) {
            values[i] = i < steps / 2 ? Math.fma(step, (float) i, start) : Math.fma(-step, (float) (steps - i - 1), end);
        }
        return values;
    }

    /** The small constant tables on one device, created once per device and kept for the process. */
    private static final class Tables {
        final Tensor nf4Thresholds;    // fp32 [15]
        final Tensor nf4Pairs;         // int64 [256]: the bits of the two fp32 values that byte b encodes
        final Tensor dynamicMap;       // fp32 [256]
        final Tensor dynamicMidpoints; // fp32 [255]

        private Tables(org.bytedeco.pytorch.Device device) {
            float[] pairs = new float[512];
            for (int b = 0; b < 256; b++) {
                pairs[2 * b] = NF4[b >> 4];
                pairs[2 * b + 1] = NF4[b & 0x0F];
            }
            float[] midpoints = new float[255];
            for (int k = 0; k < midpoints.length; k++) {
                midpoints[k] = (DYNAMIC_MAP[k] + DYNAMIC_MAP[k + 1]) * 0.5f;
            }
            try (PointerScope scope = new PointerScope()) {
                nf4Thresholds = Tensors.keep(onDevice(NF4_THRESHOLDS, device));
                nf4Pairs = Tensors.keep(onDevice(pairs, device).view(torch.ScalarType.Long));
                dynamicMap = Tensors.keep(onDevice(DYNAMIC_MAP, device));
                dynamicMidpoints = Tensors.keep(onDevice(midpoints, device));
            }
        }

        private static Tensor onDevice(float[] values, org.bytedeco.pytorch.Device device) {
            try (FloatPointer p = new FloatPointer(values)) {
                return torch.from_blob(p, new long[] {values.length}, new TensorOptions(torch.ScalarType.Float))
                        .to(device, torch.ScalarType.Float).clone();
            }
        }
    }

    private static Tables tables(Tensor onDevice) {
        org.bytedeco.pytorch.Device device = onDevice.device();
        return TABLES.computeIfAbsent(device.str().getString(), key -> new Tables(device));
    }
}
