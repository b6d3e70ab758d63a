package dev.tailor.data;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/** Cuts one epoch of tokenized examples into padded or packed micro-batches, deterministically. */
public final class Batcher {
    private Batcher() {}

    /**
     * The micro-batches of one epoch. Examples are shuffled with a Random seeded by (seed, epoch), so
     * the same seed and epoch give the same batches and a resumed run can skip to a batch index.
     * Packing places several examples per row up to maxSeqLen by best-fit-decreasing (the rows are
     * then shuffled again, so batches do not come sorted by length); positions restart at 0 per
     * example. Padded batching puts one example per row. Either way a batch is padded to its
     * longest row, or to maxSeqLen when padToMax; batchSize = rows per micro-batch (the last batch
     * may have fewer). Every example must already fit maxSeqLen (the encoder truncates).
     */
    public static List<Batch> epoch(List<TokenizedExample> examples, int epoch, long seed, int batchSize, int maxSeqLen,
            boolean packing, boolean padToMax, int padId) {
        if (batchSize < 1 || maxSeqLen < 1 || epoch < 0) {
            throw new IllegalArgumentException("batchSize " + batchSize + ", maxSeqLen " + maxSeqLen + ", epoch " + epoch);
        }
        for (TokenizedExample example : examples) {
            if (example.length() < 1 || example.length() > maxSeqLen) {
                throw new IllegalArgumentException("example at line " + example.line() + " has " + example.length()
                        + " tokens; encode it with maxSeqLen " + maxSeqLen);
            }
        }
        Random random = new Random(mix(seed, epoch));
        List<TokenizedExample> shuffled = new ArrayList<>(examples);
        Collections.shuffle(shuffled, random);
        List<List<TokenizedExample>> rows;
        if (packing) {
            rows = bestFitDecreasing(shuffled, maxSeqLen);
            Collections.shuffle(rows, random);
        } else {
            rows = shuffled.stream().map(List::of).toList();
        }
        List<Batch> batches = new ArrayList<>();
        for (int from = 0; from < rows.size(); from += batchSize) {
            List<List<TokenizedExample>> group = rows.subList(from, Math.min(rows.size(), from + batchSize));
            int length = padToMax ? maxSeqLen : group.stream().mapToInt(Batcher::rowLength).max().orElseThrow();
            batches.add(batch(group, length, padId));
        }
        return batches;
    }

    /**
     * Longest first, each into the open row it fills most tightly (a new row when none has room).
     * The sort is stable, so equal lengths keep the shuffled order.
     */
    private static List<List<TokenizedExample>> bestFitDecreasing(List<TokenizedExample> examples, int capacity) {
        List<TokenizedExample> longestFirst = new ArrayList<>(examples);
        longestFirst.sort(Comparator.comparingInt(TokenizedExample::length).reversed());
        List<List<TokenizedExample>> rows = new ArrayList<>();
        TreeMap<Integer, ArrayDeque<List<TokenizedExample>>> rowsByRoom = new TreeMap<>();
        for (TokenizedExample example : longestFirst) {
            Map.Entry<Integer, ArrayDeque<List<TokenizedExample>>> fit = rowsByRoom.ceilingEntry(example.length());
            List<TokenizedExample> row;
            int room;
            if (fit == null) {
                row = new ArrayList<>();
                rows.add(row);
                room = capacity;
            } else {
                row = fit.getValue().pollFirst();
                room = fit.getKey();
                if (fit.getValue().isEmpty()) {
                    rowsByRoom.remove(fit.getKey());
                }
            }
            row.add(example);
            room -= example.length();
            if (room > 0) {
                rowsByRoom.computeIfAbsent(room, r -> new ArrayDeque<>()).addLast(row);
            }
        }
        return rows;
    }

    private static int rowLength(List<TokenizedExample> row) {
        return row.stream().mapToInt(TokenizedExample::length).sum();
    }

    private static Batch batch(List<List<TokenizedExample>> rows, int length, int padId) {
        int size = rows.size() * length;
        long[] ids = new long[size];
        long[] labels = new long[size];
        long[] positions = new long[size];
        int[] segments = new int[size];
        Arrays.fill(ids, padId);
        Arrays.fill(labels, ChatEncoder.IGNORE);
        int examples = 0;
        for (int r = 0; r < rows.size(); r++) {
            int at = r * length;
            int segment = 0;
            for (TokenizedExample example : rows.get(r)) {
                segment++;
                for (int i = 0; i < example.length(); i++, at++) {
                    ids[at] = example.ids()[i];
                    labels[at] = example.labels()[i];
                    positions[at] = i;
                    segments[at] = segment;
                }
            }
            examples += segment;
        }
        return new Batch(rows.size(), length, ids, labels, positions, segments, examples);
    }

    /** One well-spread seed per (seed, epoch): SplitMix64's finaliser over both. */
    private static long mix(long seed, int epoch) {
        long z = seed + 0x9E3779B97F4A7C15L * (epoch + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
