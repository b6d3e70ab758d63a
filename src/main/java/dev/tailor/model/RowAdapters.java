package dev.tailor.model;

import dev.tailor.tensor.Device;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * Which LoRA adapter each row of a batch uses during one forward pass (S-LoRA / Punica style): every
 * linear layer computes the base product once for all rows, then the adapters' products, each row
 * with its own adapter (through an {@link AdapterBank}) or none. Passed down the forward pass instead
 * of attaching adapters to the layers, so that one model serves many adapters at once while
 * {@link Model#attach} stays the single-adapter path of training and the CLI.
 */
final class RowAdapters {
    private static final RowAdapters NONE = new RowAdapters(null, null, Map.of());
    /** The adapter of every row, or null when rows differ (or none has one). */
    private final Adapter everyRow;
    private final AdapterBank bank;
    private final Map<String, Tensor> masks;

    private RowAdapters(Adapter everyRow, AdapterBank bank, Map<String, Tensor> masks) {
        this.everyRow = everyRow;
        this.bank = bank;
        this.masks = masks;
    }

    /** Every row with {@code adapter}, or with none when it is null. */
    static RowAdapters all(Adapter adapter) {
        return adapter == null ? NONE : new RowAdapters(adapter, null, Map.of());
    }

    /**
     * Row i with {@code perRow.get(i)} (null = the base alone), taken from {@code bank}, which holds
     * all of them, or null when the rows do not differ ({@link #mixed}); the step's masks are made in
     * the caller's scope.
     */
    static RowAdapters of(List<Adapter> perRow, AdapterBank bank, Device device) {
        if (bank == null) {
            return all(perRow.get(0)); // one adapter (or none) for the whole batch: its own products, no mask
        }
        return new RowAdapters(null, bank, bank.masks(perRow, device));
    }

    /** Whether rows differ in their adapters, so that {@link Model#decode} needs a bank holding them. */
    static boolean mixed(List<Adapter> perRow) {
        return perRow.stream().anyMatch(a -> a != perRow.get(0));
    }

    boolean isEmpty() {
        return everyRow == null && bank == null;
    }

    /** The adapter every row uses, or null. */
    Adapter everyRow() {
        return everyRow;
    }

    /** The rows' adapter products for {@code module} in fp32, or null where none of their adapters has it. */
    Tensor mixedDelta(String module, Tensor x) {
        return bank == null ? null : bank.delta(module, x, masks.get(module));
    }
}
