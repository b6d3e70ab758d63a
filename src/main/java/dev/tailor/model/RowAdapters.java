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
    /** The adapter of every row, or null when rows differ (or none has one). */
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
     * all of them, or null when the rows do not differ ({@link #mixed}).
     */
    static RowAdapters of(List<Adapter> perRow, AdapterBank bank) {
        if (bank == null) {
            return all(perRow.get(0)); // one adapter (or none) for the whole batch: its own products
        }
        return new RowAdapters(null, bank, bank.indexOf(perRow));
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

    /** Whether rows differ in their adapters (their products come from {@link #addMixed}). */
    boolean usesBank() {
        return bank != null;
    }

    /**
     * Adds each row's adapter product, in place, to y, the output of the product (a module, or q/k/v and
     * gate/up fused) whose first module is {@code first} for input x; returns y (as it is where rows
     * do not differ).
     */
    Tensor addMixed(String first, Tensor x, Tensor y) {
        return bank == null ? y : bank.addTo(first, x, y, rowAdapters);
    }
}
