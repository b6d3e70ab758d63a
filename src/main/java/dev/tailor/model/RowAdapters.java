package dev.tailor.model;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * Which LoRA adapter each row of a batch uses during one forward pass (S-LoRA / Punica style): every
 * linear layer computes the base product once for all rows, then the adapters' products, each row
 * with its own adapter (through an {@link AdapterBank}) or none. Passed down the forward pass instead
 * of attaching adapters to the layers, so that one model serves many adapters at once while
 * {@link Model#attach} stays the single-adapter path of training and the CLI.
 */
final class RowAdapters {
    private static final RowAdapters NONE = new RowAdapters(null, null, null);
    /** The adapter of every row (a prompt, training's forward pass), or null. */
    private final Adapter everyRow;
    private final AdapterBank bank;
    /** Each row's adapter as its index in the bank (-1: none), where rows differ. */
    private final int[] rowAdapters;

    private RowAdapters(Adapter everyRow, AdapterBank bank, int[] rowAdapters) {
        this.everyRow = everyRow;
        this.bank = bank;
        this.rowAdapters = rowAdapters;
    }

    /** Every row with {@code adapter}, or with none when it is null. */
    static RowAdapters all(Adapter adapter) {
        return adapter == null ? NONE : new RowAdapters(adapter, null, null);
    }

    /**
     * Row i with {@code perRow.get(i)} (null = the base alone), taken from {@code bank}, which holds
     * all of them, or null when no row has an adapter.
     */
    static RowAdapters of(List<Adapter> perRow, AdapterBank bank) {
        return bank == null ? NONE : new RowAdapters(null, bank, bank.indexOf(perRow));
    }

    boolean isEmpty() {
        return everyRow == null && bank == null;
    }

    /** The adapter every row uses, or null. */
    Adapter everyRow() {
        return everyRow;
    }

    /** Whether the rows' adapter products come from a bank ({@link #addMixed}). */
    boolean usesBank() {
        return bank != null;
    }

    /**
     * Adds each row's adapter product, in place, to y, the output of the product (a module, or q/k/v and
     * gate/up fused) whose first module is {@code first} for input x; returns y (as it is without a bank).
     */
    Tensor addMixed(String first, Tensor x, Tensor y) {
        return bank == null ? y : bank.addTo(first, x, y, rowAdapters);
    }
}
