package dev.tailor.data;

import java.util.ArrayList;
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
        int[] parent = new int[count];
        for (int i = 0; i < count; i++) {
            parent[i] = i;
        }
        for (int i = 0; i < count; i++) {
            union(parent, i, exactOf[i]);
        }
        if (!exactOnly) {
            for (List<Integer> cluster : near.clusters()) {
                for (int member : cluster) {
                    union(parent, cluster.get(0), member);
                }
            }
        }
        int[] size = new int[count];
        for (int i = 0; i < count; i++) {
            size[find(parent, i)]++;
        }
        Map<Integer, List<Integer>> members = new HashMap<>(); // only groups: most records are alone
        for (int i = 0; i < count; i++) {
            int root = find(parent, i);
            if (size[root] > 1) {
                members.computeIfAbsent(root, r -> new ArrayList<>()).add(i);
            }
        }
        List<int[]> groups = new ArrayList<>();
        for (List<Integer> group : members.values()) {
            groups.add(group.stream().mapToInt(Integer::intValue).toArray()); // ascending: filled in index order
        }
        groups.sort((a, b) -> Integer.compare(a[0], b[0]));
        return groups;
    }

    private static void union(int[] parent, int a, int b) {
        int ra = find(parent, a);
        int rb = find(parent, b);
        if (ra != rb) {
            parent[Math.max(ra, rb)] = Math.min(ra, rb);
        }
    }

    private static int find(int[] parent, int i) {
        while (parent[i] != i) {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        return i;
    }
}
