package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Several adapters' LoRA weights concatenated per module, for decoding steps whose rows use
 * different adapters (the batched LoRA of S-LoRA and Punica, with two matrix products): for a
 * module, {@code A [R, in]} stacks every adapter's A, {@code B [out, R]} every adapter's B, and a
 * mask {@code [rows, R]} made per step holds each row's scaling on its own adapter's columns and 0
 * elsewhere, so that {@code delta = ((x A^T) * mask) B^T}. That is a fixed handful of libtorch calls
 * per layer whatever the mix: a product pair per adapter per layer cost more than the base model's
 * own products at 8 adapters. The weights are copies: closing an adapter leaves a bank built from it intact.
 */
final class AdapterBank implements AutoCloseable {
    /** One module: columns [offsets[i], offsets[i] + ranks[i]) of A and B belong to adapter i (rank 0: it has none here). */
    private record Module(Tensor a, Tensor b, int[] offsets, int[] ranks, double[] scalings) {
        int width() {
            return (int) a.size(0);
        }

        /** What decides the mask: modules with the same ranks and scalings share one per step. */
        String layout() {
            return Arrays.toString(ranks) + Arrays.toString(scalings);
        }
    }

    private final List<Adapter> adapters;
    private final Map<String, Module> modules;

    private AdapterBank(List<Adapter> adapters, Map<String, Module> modules) {
        this.adapters = adapters;
        this.modules = modules;
    }

    /** Concatenates the weights of {@code adapters} (distinct) per module; the result is owned by the caller. */
    static AdapterBank of(List<Adapter> adapters) {
        TreeSet<String> names = new TreeSet<>();
        adapters.forEach(a -> names.addAll(a.modules().keySet()));
        Map<String, Module> modules = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            for (String name : names) {
                int[] offsets = new int[adapters.size()];
                int[] ranks = new int[adapters.size()];
                double[] scalings = new double[adapters.size()];
                List<Tensor> as = new ArrayList<>();
                List<Tensor> bs = new ArrayList<>();
                int width = 0;
                for (int i = 0; i < adapters.size(); i++) {
                    LoraWeights w = adapters.get(i).modules().get(name);
                    offsets[i] = width;
                    if (w != null) {
                        ranks[i] = w.rank();
                        scalings[i] = w.scaling();
                        as.add(w.a().detach());
                        bs.add(w.b().detach());
                        width += w.rank();
                    }
                }
                Tensor a = Tensors.keep(Tensors.cat(0, as.toArray(Tensor[]::new)));
                Tensor b = Tensors.keep(Tensors.cat(1, bs.toArray(Tensor[]::new)));
                modules.put(name, new Module(a, b, offsets, ranks, scalings));
            }
        }
        return new AdapterBank(List.copyOf(adapters), modules);
    }

    /** Whether every one of {@code wanted} is in this bank (by identity). */
    boolean holds(Collection<Adapter> wanted) {
        return wanted.stream().allMatch(w -> adapters.stream().anyMatch(a -> a == w));
    }

    int size() {
        return adapters.size();
    }

    /**
     * The masks of one step [rows, R] by module, in the caller's scope: row i uses {@code perRow.get(i)},
     * which must be in this bank or null (no adapter).
     */
    Map<String, Tensor> masks(List<Adapter> perRow, Device device) {
        int[] index = new int[perRow.size()];
        for (int row = 0; row < index.length; row++) {
            index[row] = indexOf(perRow.get(row));
        }
        Map<String, Tensor> byLayout = new HashMap<>();
        Map<String, Tensor> byModule = new HashMap<>();
        for (Map.Entry<String, Module> e : modules.entrySet()) {
            Module m = e.getValue();
            byModule.put(e.getKey(), byLayout.computeIfAbsent(m.layout(), k -> mask(m, index, device)));
        }
        return byModule;
    }

    private int indexOf(Adapter adapter) {
        if (adapter == null) {
            return -1;
        }
        for (int i = 0; i < adapters.size(); i++) {
            if (adapters.get(i) == adapter) {
                return i;
            }
        }
        throw new IllegalArgumentException("an adapter that is not in this bank");
    }

    private static Tensor mask(Module m, int[] index, Device device) {
        int width = m.width();
        float[] values = new float[index.length * width];
        for (int row = 0; row < index.length; row++) {
            int k = index[row];
            if (k >= 0) {
                Arrays.fill(values, row * width + m.offsets[k], row * width + m.offsets[k] + m.ranks[k], (float) m.scalings[k]);
            }
        }
        return Tensors.fromFloats(values, index.length, width).to(device.torchDevice(), torch.ScalarType.Float);
    }

    /**
     * Each row's own adapter's {@code scaling * B A x} for x [rows, ..., in], in fp32 (as PEFT computes
     * LoRA), or null where no adapter of the bank has {@code module}.
     */
    Tensor delta(String module, Tensor x, Tensor mask) {
        Module m = modules.get(module);
        if (m == null) {
            return null;
        }
        Tensor h = Tensors.linear(x.to(torch.ScalarType.Float), m.a, null);
        long[] shape = new long[(int) h.dim()];
        Arrays.fill(shape, 1);
        shape[0] = mask.size(0);
        shape[shape.length - 1] = mask.size(1);
        return Tensors.linear(h.mul(mask.view(shape)), m.b, null);
    }

    @Override
    public void close() {
        for (Module m : modules.values()) {
            m.a.close();
            m.b.close();
        }
    }
}
