package dev.tailor.model;

import dev.tailor.tensor.MixedLora;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * The LoRA weights of a decoding batch's adapters, whose rows may use different adapters (S-LoRA,
 * Punica): every linear product of the model computes the base output once for all rows, then
 * {@link MixedLora} adds each row's own adapter's {@code scaling * B A x} in place. Modules computed
 * as one fused product (q/k/v, gate/up: {@link FusedLinear}) are one entry here, each module with its
 * columns of the fused output. The weights are fp32 copies laid out for the kernel (B transposed):
 * closing an adapter leaves a bank built from it intact.
 */
final class AdapterBank implements AutoCloseable {
    /** One module of a product: its first column in the product's output and each adapter's weights (null: none). */
    private record Part(long offset, MixedLora.Weights[] byAdapter) {}

    private final List<Adapter> adapters;
    /** By the name of the product's first module. */
    private final Map<String, List<Part>> products;

    private AdapterBank(List<Adapter> adapters, Map<String, List<Part>> products) {
        this.adapters = adapters;
        this.products = products;
    }

    /**
     * A bank of {@code adapters} for the model's products {@code groups} (each the modules that one
     * matrix product computes, in output order); a product no adapter touches has no entry.
     */
    static AdapterBank of(List<Adapter> adapters, List<Linear[]> groups) {
        Map<String, List<Part>> products = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            for (Linear[] group : groups) {
                List<Part> parts = new ArrayList<>();
                long offset = 0;
                for (Linear module : group) {
                    MixedLora.Weights[] byAdapter = new MixedLora.Weights[adapters.size()];
                    for (int i = 0; i < byAdapter.length; i++) {
                        LoraWeights w = adapters.get(i).modules().get(module.name);
                        byAdapter[i] = w == null ? null : MixedLora.Weights.copyOf(w.a().detach(), w.b().detach(), w.scaling());
                    }
                    if (Arrays.stream(byAdapter).anyMatch(Objects::nonNull)) {
                        parts.add(new Part(offset, byAdapter));
                    }
                    offset += module.outFeatures();
                }
                if (!parts.isEmpty()) {
                    products.put(group[0].name, List.copyOf(parts));
                }
            }
        }
        return new AdapterBank(List.copyOf(adapters), products);
    }

    /** Whether every one of {@code wanted} is in this bank (by identity). */
    boolean holds(Collection<Adapter> wanted) {
        return wanted.stream().allMatch(w -> adapters.stream().anyMatch(a -> a == w));
    }

    /** Each row's adapter as its index in this bank (-1: none); every one must be in this bank or null. */
    int[] indexOf(List<Adapter> perRow) {
        int[] index = new int[perRow.size()];
        for (int row = 0; row < index.length; row++) {
            index[row] = indexOf(perRow.get(row));
        }
        return index;
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

    /**
     * Adds to y, the output [rows, ..., width] of the product whose first module is {@code first} for
     * input x [rows, ..., in], each row's adapter's {@code scaling * B A x} (row r with adapter
     * {@code rowAdapters[r]}, -1 none), in place; returns y.
     */
    Tensor addTo(String first, Tensor x, Tensor y, int[] rowAdapters) {
        List<Part> parts = products.get(first);
        if (parts == null) {
            return y;
        }
        Tensor input = x.contiguous();
        for (Part part : parts) {
            List<MixedLora.Weights> perRow = new ArrayList<>(rowAdapters.length);
            for (int index : rowAdapters) {
                perRow.add(index < 0 ? null : part.byAdapter()[index]);
            }
            MixedLora.addInPlace(input, y, part.offset(), perRow);
        }
        return y;
    }

    @Override
    public void close() {
        for (List<Part> parts : products.values()) {
            for (Part part : parts) {
                for (MixedLora.Weights w : part.byAdapter()) {
                    if (w != null) {
                        w.close();
                    }
                }
            }
        }
    }
}
