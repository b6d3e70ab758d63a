package dev.tailor.tensor;

import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Dropout's random mask for training, {@code x * mask} being dropout(x): each entry 1 / (1 - p) (kept,
 * with probability 1 - p) or 0. On the CPU a native kernel ({@link ElementwiseKernel}) fills it from a
 * counter-based hash on all cores; libtorch's bernoulli_ drew each entry from its one generator on one
 * thread, and LoRA dropout draws 1.8M entries per module per step of 4 x 512 tokens. The hash's seed
 * comes from libtorch's generator, so {@code torch.manual_seed} fixes the masks as it fixed bernoulli_'s.
 */
public final class DropoutMask {
    private static final boolean NATIVE = NativeKernels.load(ElementwiseKernel::load);
    /** Entries per chunk where the mask is split across threads. */
    private static final long CHUNK = 1 << 16;

    private DropoutMask() {}

    /** A new fp32 mask of {@code shape} on {@code device} for dropout probability p, 0 < p < 1. */
    public static Tensor sample(long[] shape, double p, Device device) {
        if (!(p > 0 && p < 1)) {
            throw new IllegalArgumentException("dropout probability must be in (0, 1), got " + p);
        }
        Tensor mask = torch.empty(shape, Tensors.options(DType.F32, device), new MemoryFormatOptional());
        if (!NATIVE || device != Device.CPU) {
            return mask.bernoulli_(1 - p, new GeneratorOptional()).div_(Tensors.scalar(1 - p));
        }
        long[] seed = Tensors.toLongs(torch.randint(1L << 32, new long[] {2}, new TensorOptions(torch.ScalarType.Long)));
        long threshold = Math.round(p * 4294967296.0);
        float scale = (float) (1 / (1 - p));
        long address = mask.data_ptr().address();
        KernelThreads.forEachRange(mask.numel(), CHUNK,
                (begin, end) -> ElementwiseKernel.dropoutMask(address, begin, end, threshold, scale, seed[0], seed[1]));
        return mask;
    }
}
