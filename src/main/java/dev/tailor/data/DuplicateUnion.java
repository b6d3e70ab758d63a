package dev.tailor.data;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Groups the records of a file that are copies of each other, as {@code tailor data validate}
 * finds them: exact duplicates (the same text: roles and contents, other keys ignored) and, unless
 * exact only, {@link NearDuplicates} clusters, joined transitively (a record near-duplicating one
 * copy of an exact group joins the whole group). Split keeps each group on one side; dedupe keeps
 * its first record. Memory per record: an int, a hash and a MinHash signature, never the text.
 */
final class DuplicateUnion {
    private final boolean exactOnly;
    private final Map<Long, Integer> firstOfHash = new HashMap<>();
    private final NearDuplicates near = new NearDuplicates();
    private int[] exactOf = new int[1024];
    private int count;

    /** exactOnly: group exact duplicates only. */
    DuplicateUnion(boolean exactOnly) {
        this.exactOnly = exactOnly;
    }

    /** Adds the next record (indexes 0, 1, 2, ... in file order) with its text. */
    void add(int index, String text) {
        if (index != count) {
            throw new IllegalArgumentException("records must be added in order: expected " + count + ", got " + index);
        }
        if (count == exactOf.length) {
            exactOf = Arrays.copyOf(exactOf, count * 2);
        }
        Integer first = firstOfHash.putIfAbsent(DataValidator.hash(text), index);
        exactOf[count++] = first == null ? index : first;
        if (first == null && !exactOnly) {
            near.add(index, text); // one copy of each exact group is enough for the clusters
        }
    }

    int size() {
        return count;
    }

    /** The first record with the same text (the record itself when it is the first). */
    int exactRepresentative(int index) {
        return exactOf[index];
    }

    /** The groups of two or more records, each in file order, ordered by their first record. */
    List<int[]> groups() {
        UnionFind sets = new UnionFind(count);
        for (int i = 0; i < count; i++) {
            sets.union(i, exactOf[i]);
        }
        if (!exactOnly) {
            for (List<Integer> cluster : near.clusters()) {
                for (int member : cluster) {
                    sets.union(cluster.get(0), member);
                }
            }
        }
        return sets.groups();
    }
}
