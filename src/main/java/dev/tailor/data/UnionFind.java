package dev.tailor.data;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Disjoint sets over 0..n-1 (path halving), for grouping duplicates. */
final class UnionFind {
    private final int[] parent;

    UnionFind(int n) {
        parent = new int[n];
        for (int i = 0; i < n; i++) {
            parent[i] = i;
        }
    }

    /** Joins the sets of a and b; the smaller index becomes the root. */
    void union(int a, int b) {
        int ra = find(a);
        int rb = find(b);
        if (ra != rb) {
            parent[Math.max(ra, rb)] = Math.min(ra, rb);
        }
    }

    private int find(int i) {
        while (parent[i] != i) {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        return i;
    }

    /** The sets of two or more members, each ascending, ordered by their smallest member. */
    List<int[]> groups() {
        int[] size = new int[parent.length];
        for (int i = 0; i < parent.length; i++) {
            size[find(i)]++;
        }
        Map<Integer, List<Integer>> members = new HashMap<>(); // only groups: most elements are alone
        for (int i = 0; i < parent.length; i++) {
            int root = find(i);
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
}
