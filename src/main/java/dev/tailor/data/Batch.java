package dev.tailor.data;

import java.util.Arrays;

/**
 * One micro-batch: rows x length int64 ids, labels (-100 = not trained), positions, and segment
 * ids (0 = padding, 1..k = k-th example in its row), row-major. Positions restart at 0 with every
 * example and segments tell the trainer where the block-diagonal attention mask splits a packed
 * row, so packed examples never attend to each other. Plain Java arrays: nothing native is held.
 */
public record Batch(int rows, int length, long[] ids, long[] labels, long[] positions, int[] segments, int examples) {
    public Batch {
        int size = rows * length;
        if (rows < 1 || length < 1 || ids.length != size || labels.length != size || positions.length != size
                || segments.length != size) {
            throw new IllegalArgumentException("a " + rows + " x " + length + " batch needs " + size
                    + " entries per array");
        }
    }

    /** Tokens the loss is computed on: labels != -100 (the normaliser across micro-batches). */
    public long trainedTokens() {
        return Arrays.stream(labels).filter(label -> label != ChatEncoder.IGNORE).count();
    }

    /** Tokens of examples, padding excluded: segments != 0. */
    public long realTokens() {
        return Arrays.stream(segments).filter(segment -> segment != 0).count();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Batch that && rows == that.rows && length == that.length && examples == that.examples
                && Arrays.equals(ids, that.ids) && Arrays.equals(labels, that.labels)
                && Arrays.equals(positions, that.positions) && Arrays.equals(segments, that.segments);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(ids) + Arrays.hashCode(labels)) + Arrays.hashCode(segments);
    }

    @Override
    public String toString() {
        return "Batch[" + rows + " x " + length + ", examples=" + examples + ", real=" + realTokens()
                + ", trained=" + trainedTokens() + "]";
    }
}
