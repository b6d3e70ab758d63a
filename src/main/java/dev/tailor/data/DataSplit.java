package dev.tailor.data;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * {@code tailor data split}: divides a data file into a training and a validation file, the same
 * way for the same seed. Exact and near-duplicate records ({@link DuplicateUnion}) always land on
 * the same side, so validation never measures memorised copies of training examples. Records are
 * split in units (a duplicate group, or one record), visited in a seeded random order: a unit goes
 * to validation while it fits the validation target, else to training. Stratified by the final
 * assistant answer, each answer class has its own target, so both sides keep the class
 * distribution. Each output keeps the input's record order.
 */
public final class DataSplit {
    public static final long DEFAULT_SEED = 42;

    /** How the records with one final answer were divided. */
    public record ClassSplit(String answer, int train, int validation) {}

    /**
     * @param groups duplicate groups, each kept wholly on one side, holding examplesInGroups records
     * @param classes per final answer, most frequent first; empty unless stratified
     */
    public record Result(int train, int validation, int groups, int examplesInGroups, List<ClassSplit> classes) {}

    private DataSplit() {}

    /**
     * Splits input into trainOut and validationOut (written atomically; input is only read).
     *
     * @param ratio the share of records for validation, in (0, 1)
     * @param stratify keep the distribution of final assistant answers (classification-style data)
     * @throws TailorException when the file has an error, a record has no answer to stratify by, or
     *     the ratio or the duplicate groups would leave a side empty
     */
    public static Result split(Path input, Path trainOut, Path validationOut, double ratio, long seed, boolean stratify) {
        checkRatio(ratio);
        DuplicateUnion duplicates = new DuplicateUnion(false);
        Map<String, Integer> classIds = new LinkedHashMap<>();
        int[][] classOf = {new int[stratify ? 1024 : 0]};
        TransformRecords.read(input, false, e -> {
            duplicates.add(e.index(), e.checked().text());
            if (stratify) {
                String answer = e.checked().finalAnswer();
                if (answer == null) {
                    throw new TailorException(input + ":" + e.checked().line() + ": no assistant answer to stratify by ("
                            + e.checked().format().id() + " data); split without --stratify-by");
                }
                if (e.index() == classOf[0].length) {
                    classOf[0] = Arrays.copyOf(classOf[0], e.index() * 2);
                }
                classOf[0][e.index()] = classIds.computeIfAbsent(answer.strip(), a -> classIds.size());
            }
        });
        int n = duplicates.size();
        int[] classes = Arrays.copyOf(classOf[0], n); // all class 0 when not stratified
        int[] sizes = new int[Math.max(1, classIds.size())];
        for (int c : classes) {
            sizes[c]++;
        }
        int[] targets = targets(sizes, ratio, stratify);
        List<int[]> groups = duplicates.groups();
        boolean[] validation = assign(n, groups, classes, targets, seed);
        int validationCount = 0;
        for (boolean v : validation) {
            validationCount += v ? 1 : 0;
        }
        if (validationCount == 0) {
            throw new TailorException(input + ": the records form duplicate groups larger than the validation target, so none can"
                    + " go to validation without leaking into training; remove the copies (tailor data dedupe) or raise --validation-ratio");
        }
        TransformOutput.write(trainOut, train -> TransformOutput.write(validationOut, valid ->
                TransformRecords.read(input, false, e -> {
                    if (e.index() >= n) {
                        throw new TailorException(input + " changed while it was being split; run the split again");
                    }
                    (validation[e.index()] ? valid : train).add(e.node());
                })));
        return new Result(n - validationCount, validationCount, groups.size(), groups.stream().mapToInt(g -> g.length).sum(),
                stratify ? classSplits(classIds, classes, validation) : List.of());
    }

    /** Refuses a validation ratio outside (0, 1). */
    public static void checkRatio(double ratio) {
        if (!(ratio > 0 && ratio < 1)) {
            throw new TailorException("--validation-ratio " + ratio + ": must lie between 0 and 1 (exclusive), e.g. 0.1");
        }
    }

    /**
     * Validation records per class. Unstratified (one class): round(n x ratio), refused when that
     * leaves a side empty. Stratified: round(n_c x ratio) per class, at least 1 and at most n_c - 1
     * for a class of two or more records (each class is seen on both sides), 0 for a single record.
     */
    static int[] targets(int[] classSizes, double ratio, boolean stratified) {
        if (!stratified) {
            int n = classSizes[0];
            int v = (int) Math.round(n * ratio);
            if (v == 0) {
                throw new TailorException("--validation-ratio " + ratio + " of " + n + " examples rounds to no validation example;"
                        + " raise the ratio or add examples");
            }
            if (v == n) {
                throw new TailorException("--validation-ratio " + ratio + " of " + n + " examples leaves no training example;"
                        + " lower the ratio");
            }
            return new int[] {v};
        }
        int[] targets = new int[classSizes.length];
        int total = 0;
        for (int c = 0; c < classSizes.length; c++) {
            int size = classSizes[c];
            targets[c] = size < 2 ? 0 : (int) Math.max(1, Math.min(size - 1, Math.round(size * ratio)));
            total += targets[c];
        }
        if (total == 0) {
            throw new TailorException("--stratify-by assistant: no final answer occurs twice, so no class can be on both sides;"
                    + " stratify only classification-style data, or split without --stratify-by");
        }
        return targets;
    }

    /**
     * Which records go to validation: units (the groups, and every other record alone) in a seeded
     * random order, each taken when all its records fit their class's remaining target.
     */
    static boolean[] assign(int n, List<int[]> groups, int[] classOf, int[] targets, long seed) {
        List<int[]> units = new ArrayList<>();
        boolean[] grouped = new boolean[n];
        Map<Integer, int[]> groupByFirst = new HashMap<>();
        for (int[] group : groups) {
            groupByFirst.put(group[0], group);
            for (int i : group) {
                grouped[i] = true;
            }
        }
        for (int i = 0; i < n; i++) {
            if (!grouped[i]) {
                units.add(new int[] {i});
            } else if (groupByFirst.containsKey(i)) {
                units.add(groupByFirst.get(i));
            }
        }
        Collections.shuffle(units, new Random(seed)); // java.util.Random's sequence is specified: same seed, same split
        int[] taken = new int[targets.length];
        boolean[] validation = new boolean[n];
        for (int[] unit : units) {
            Map<Integer, Integer> need = new HashMap<>();
            for (int i : unit) {
                need.merge(classOf[i], 1, Integer::sum);
            }
            if (need.entrySet().stream().allMatch(e -> taken[e.getKey()] + e.getValue() <= targets[e.getKey()])) {
                for (int i : unit) {
                    validation[i] = true;
                    taken[classOf[i]]++;
                }
            }
        }
        return validation;
    }

    private static List<ClassSplit> classSplits(Map<String, Integer> classIds, int[] classes, boolean[] validation) {
        int[] train = new int[classIds.size()];
        int[] valid = new int[classIds.size()];
        for (int i = 0; i < classes.length; i++) {
            (validation[i] ? valid : train)[classes[i]]++;
        }
        List<ClassSplit> splits = new ArrayList<>();
        classIds.forEach((answer, c) -> splits.add(new ClassSplit(answer, train[c], valid[c])));
        splits.sort(Comparator.comparingInt((ClassSplit s) -> s.train() + s.validation()).reversed()); // stable: ties keep file order
        return splits;
    }
}
