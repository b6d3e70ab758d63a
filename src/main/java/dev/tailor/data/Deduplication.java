package dev.tailor.data;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code tailor data dedupe}: writes a copy of a data file without its exact and near-duplicate
 * records ({@link DuplicateUnion}, the groups {@code tailor data validate} warns about), keeping
 * the first record of each group in file order, and reports which lines went.
 */
public final class Deduplication {
    /**
     * One duplicate group: the line kept and the lines removed as exact copies of a record of the
     * group or as near-duplicates.
     */
    public record Group(int keptLine, List<Integer> exactLines, List<Integer> nearLines) {}

    /** @param groups every group, ordered by the kept line */
    public record Result(int examples, int kept, int exactRemoved, int nearRemoved, List<Group> groups) {}

    private Deduplication() {}

    /**
     * Writes input's records minus the duplicates to output (atomically; input is only read).
     *
     * @param exactOnly remove exact duplicates only, keeping near-duplicates
     * @throws TailorException when the file has an error
     */
    public static Result dedupe(Path input, Path output, boolean exactOnly) {
        DuplicateUnion duplicates = new DuplicateUnion(exactOnly);
        int[][] lines = {new int[1024]};
        TransformRecords.read(input, false, e -> {
            duplicates.add(e.index(), e.checked().text());
            if (e.index() == lines[0].length) {
                lines[0] = Arrays.copyOf(lines[0], e.index() * 2);
            }
            lines[0][e.index()] = e.checked().line();
        });
        int n = duplicates.size();
        boolean[] removed = new boolean[n];
        List<Group> groups = new ArrayList<>();
        int exact = 0;
        int near = 0;
        for (int[] group : duplicates.groups()) {
            List<Integer> exactLines = new ArrayList<>();
            List<Integer> nearLines = new ArrayList<>();
            for (int k = 1; k < group.length; k++) {
                removed[group[k]] = true;
                // an exact copy of any member is exact: the text, not the cluster path, decides
                boolean isExact = duplicates.exactRepresentative(group[k]) != group[k];
                (isExact ? exactLines : nearLines).add(lines[0][group[k]]);
            }
            exact += exactLines.size();
            near += nearLines.size();
            groups.add(new Group(lines[0][group[0]], exactLines, nearLines));
        }
        TransformOutput.write(output, out -> TransformRecords.read(input, false, e -> {
            if (e.index() >= n) {
                throw new TailorException(input + " changed while it was being deduplicated; run dedupe again");
            }
            if (!removed[e.index()]) {
                out.add(e.node());
            }
        }));
        return new Result(n, n - exact - near, exact, near, groups);
    }
}
