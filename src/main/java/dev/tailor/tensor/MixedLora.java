package dev.tailor.tensor;

import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Each row's own LoRA product added to a base output in place, for decoding batches whose rows use
 * different adapters (the SGMV of Punica and S-LoRA): {@code y[r, offset + o] += round(scaling_r *
 * (B_r A_r x_r)[o])}, in fp32 as PEFT computes LoRA, rounded to y's dtype before the add exactly as
 * {@code y.add(delta.to(dtype))}. Each row reads only its own adapter's weights: libtorch products over
 * all adapters' weights with a mask per row cost 27 ms of a 113 ms 8-row step, this kernel about 2 ms.
 * The native kernel ({@link LoraKernel}) runs on every x86-64 CPU; where it did not load, and on a
 * GPU, the same products run through libtorch one row at a time.
 */
public final class MixedLora {
    private static final boolean NATIVE = NativeKernels.load(LoraKernel::load);

    private MixedLora() {}

    /** One adapter's weights for one module: A [rank, in] and B transposed [rank, out], fp32, contiguous. */
    public static final class Weights implements AutoCloseable {
        private final Tensor a;
        private final Tensor bT;
        private final double scaling;
        /** Read once: each step passes them for every row of every product. */
        private final long aAddress;
        private final long bTAddress;
        private final int rank;
        private final long in;
        private final long out;

        private Weights(Tensor a, Tensor bT, double scaling) {
            if (a.dim() != 2 || bT.dim() != 2 || a.size(0) != bT.size(0) || !a.is_contiguous() || !bT.is_contiguous()
                    || !Tensors.is(a, DType.F32) || !Tensors.is(bT, DType.F32) || Device.of(a) != Device.of(bT)) {
                throw new IllegalArgumentException("LoRA weights must be contiguous fp32 A [rank, in] and B^T [rank, out] on one device");
            }
            this.a = a;
            this.bT = bT;
            this.scaling = scaling;
            this.aAddress = a.data_ptr().address();
            this.bTAddress = bT.data_ptr().address();
            this.rank = (int) a.size(0);
            this.in = a.size(1);
            this.out = bT.size(1);
        }

        /** From PEFT's {@code lora_A [rank, in]} and {@code lora_B [out, rank]}: fp32 copies owned by the result. */
        public static Weights copyOf(Tensor a, Tensor b, double scaling) {
            return new Weights(Tensors.keep(a.to(torch.ScalarType.Float).contiguous().clone()),
                    Tensors.keep(b.to(torch.ScalarType.Float).t().contiguous()), scaling);
        }

        @Override
        public void close() {
            a.close();
            bT.close();
        }
    }

    /**
     * Adds row r's product with {@code perRow.get(r)} (null: none) for x [rows, (1, ...,) in] to the
     * columns [offset, offset + out) of y [rows, (1, ...,) width]; x, y and the weights on one device,
     * x and y contiguous, both bf16 or both fp32, y not needing gradients.
     */
    public static void addInPlace(Tensor x, Tensor y, long offset, List<Weights> perRow) {
        long rows = x.size(0);
        long in = x.size(-1);
        long width = y.size(-1);
        Weights any = perRow.stream().filter(w -> w != null).findFirst().orElse(null);
        if (any == null) {
            return;
        }
        long out = any.out;
        if (perRow.size() != rows || x.numel() != rows * in || y.numel() != rows * width || y.size(0) != rows
                || offset < 0 || offset + out > width || !x.is_contiguous() || !y.is_contiguous()
                || Device.of(x) != Device.of(y) || Device.of(x) != Device.of(any.a) || y.requires_grad()
                || !NativeKernels.sameFloatType(x, y)) {
            throw new IllegalArgumentException("mixed LoRA: x " + describe(x) + ", y " + describe(y)
                    + ", columns from " + offset + ", " + perRow.size() + " rows of adapters");
        }
        long[] a = new long[(int) rows];
        long[] bT = new long[(int) rows];
        int[] rank = new int[(int) rows];
        float[] scaling = new float[(int) rows];
        for (int r = 0; r < rows; r++) {
            Weights w = perRow.get(r);
            if (w == null) {
                continue;
            }
            if (w.in != in || w.out != out) {
                throw new IllegalArgumentException("mixed LoRA: row " + r + "'s adapter is [" + w.in + " -> " + w.out
                        + "], the product [" + in + " -> " + out + "]");
            }
            a[r] = w.aAddress;
            bT[r] = w.bTAddress;
            rank[r] = w.rank;
            scaling[r] = (float) w.scaling;
        }
        if (!NATIVE || Device.of(x) != Device.CPU) { // the kernel reads CPU memory; a GPU's rows go through libtorch
            addWithLibtorch(x, y, offset, perRow);
            return;
        }
        boolean bf16 = Tensors.is(x, DType.BF16);
        long element = bf16 ? 2 : 4;
        long xAddress = x.data_ptr().address();
        long yAddress = y.data_ptr().address() + offset * element;
        // rows split across the kernel threads: each row reads its own adapter's weights from memory
        // (8 rows over 8 adapters: 3 MB per layer), which one core streams at half the machine's rate
        KernelThreads.forEachThreadRange(rows, (begin, end) -> {
            int from = (int) begin;
            int to = (int) end;
            long[] ca = Arrays.copyOfRange(a, from, to);
            long[] cb = Arrays.copyOfRange(bT, from, to);
            int[] cr = Arrays.copyOfRange(rank, from, to);
            float[] cs = Arrays.copyOfRange(scaling, from, to);
            if (bf16) {
                LoraKernel.rowsBf16(xAddress + from * in * element, to - from, in, ca, cb, cr, cs, yAddress + from * width * element, width, out);
            } else {
                LoraKernel.rowsF32(xAddress + from * in * element, to - from, in, ca, cb, cr, cs, yAddress + from * width * element, width, out);
            }
        });
    }

    /** The same products through libtorch, one row at a time (package-private for its test). */
    static void addWithLibtorch(Tensor x, Tensor y, long offset, List<Weights> perRow) {
        try (PointerScope scope = new PointerScope()) {
            Tensor xs = x.reshape(x.size(0), x.size(-1)).to(torch.ScalarType.Float);
            Tensor ys = y.view(y.size(0), y.size(-1));
            for (int r = 0; r < perRow.size(); r++) {
                Weights w = perRow.get(r);
                if (w != null) {
                    Tensor h = torch.mm(xs.narrow(0, r, 1), w.a.t());
                    Tensor delta = torch.mm(h, w.bT).mul(Tensors.scalar(w.scaling));
                    Tensor target = ys.narrow(0, r, 1).narrow(1, offset, w.out);
                    target.copy_(target.add(delta.to(y.scalar_type())));
                }
            }
        }
    }

    private static String describe(Tensor t) {
        return Arrays.toString(Tensors.shape(t)) + " " + t.scalar_type().intern();
    }
}
