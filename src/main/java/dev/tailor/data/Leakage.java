package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Train/validation leakage: validation examples whose prompt also appears in the training file,
 * exactly (same text) or as a near-duplicate (MinHash similarity of the prompts' word 3-grams at
 * least {@link NearDuplicates#THRESHOLD}, found by the same LSH banding as {@link NearDuplicates}).
 * A leaked validation example measures what the model memorised, not how it generalises. Each
 * leaked validation example is paired with one training example: the first exact match, else the
 * most similar candidate found.
 *
 * @param validationPrompts validation examples with a prompt (the denominator)
 * @param exact validation examples whose prompt is in the training file word for word
 * @param near validation examples (not exact) with a near-duplicate prompt in the training file
 * @param pairs the first {@link #MAX_PAIRS} pairs, by validation line
 */
public record Leakage(int validationPrompts, int exact, int near, List<Pair> pairs) {
    /** Pairs kept for the report; the totals count all. */
    public static final int MAX_PAIRS = 100;
    /** Training prompts compared with one validation prompt per LSH bucket: bounds the work on files of templated prompts. */
    static final int MAX_COMPARISONS = 64;
    /** Characters of each prompt shown with a pair. */
    static final int EXCERPT = 160;

    /**
     * One leaked validation example and the training example it repeats.
     *
     * @param similarity 1 for an exact match, else the MinHash estimate of the prompts' Jaccard similarity
     * @param trainPrompt the start of the training prompt (null until {@link #withExcerpts} read it)
     * @param validationPrompt the start of the validation prompt (null until read)
     */
    public record Pair(int trainLine, int validationLine, boolean exact, double similarity, String trainPrompt,
            String validationPrompt) {}

    /** Validation examples that leak. */
    public int leaked() {
        return exact + near;
    }

    /** Finds the leaked validation prompts; validation needs signatures, train too for near-duplicates. */
    static Leakage find(PromptIndex train, PromptIndex validation) {
        int n = validation.size();
        int[] match = new int[n]; // the training index each validation example repeats, or -1
        double[] similarity = new double[n];
        Arrays.fill(match, -1);
        Map<Long, List<Integer>> byHash = new HashMap<>();
        for (int j = 0; j < n; j++) {
            byHash.computeIfAbsent(validation.promptHash(j), h -> new ArrayList<>()).add(j);
        }
        for (int i = 0; i < train.size(); i++) { // file order: the first exact match wins
            for (int j : byHash.getOrDefault(train.promptHash(i), List.of())) {
                if (match[j] < 0) {
                    match[j] = i;
                    similarity[j] = 1;
                }
            }
        }
        boolean[] exact = new boolean[n];
        for (int j = 0; j < n; j++) {
            exact[j] = match[j] >= 0;
        }
        nearMatches(train, validation, exact, match, similarity);
        int exactCount = 0;
        int nearCount = 0;
        List<Pair> pairs = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            if (match[j] < 0) {
                continue;
            }
            exactCount += exact[j] ? 1 : 0;
            nearCount += exact[j] ? 0 : 1;
            if (pairs.size() < MAX_PAIRS) {
                pairs.add(new Pair(train.line(match[j]), validation.line(j), exact[j], similarity[j], null, null));
            }
        }
        return new Leakage(n, exactCount, nearCount, List.copyOf(pairs));
    }

    /**
     * For each validation prompt without an exact match, the most similar training prompt among
     * its LSH candidates: per band, both files' band keys are sorted together (an entry is the key's
     * high 32 bits, a validation flag, then the index), so a bucket lists its training prompts first.
     */
    private static void nearMatches(PromptIndex train, PromptIndex validation, boolean[] exact, int[] match, double[] similarity) {
        long validationFlag = 1L << 31;
        long[] entries = new long[train.size() + validation.size()];
        for (int band = 0; band < NearDuplicates.BANDS; band++) {
            int count = 0;
            for (int i = 0; i < train.size(); i++) {
                if (train.signature(i) != null) {
                    entries[count++] = (NearDuplicates.bandKey(train.signature(i), band) & 0xFFFFFFFF00000000L) | i;
                }
            }
            for (int j = 0; j < validation.size(); j++) {
                if (!exact[j] && validation.signature(j) != null) {
                    entries[count++] = (NearDuplicates.bandKey(validation.signature(j), band) & 0xFFFFFFFF00000000L) | validationFlag | j;
                }
            }
            Arrays.sort(entries, 0, count);
            for (int start = 0, end; start < count; start = end) {
                end = start + 1;
                while (end < count && (entries[end] >>> 32) == (entries[start] >>> 32)) {
                    end++;
                }
                int trainEnd = start;
                while (trainEnd < end && (entries[trainEnd] & validationFlag) == 0) {
                    trainEnd++;
                }
                for (int v = trainEnd; v < end; v++) {
                    int j = (int) (entries[v] & (validationFlag - 1));
                    for (int t = start; t < Math.min(trainEnd, start + MAX_COMPARISONS); t++) {
                        int i = (int) (entries[t] & (validationFlag - 1));
                        double s = NearDuplicates.similarity(train.signature(i), validation.signature(j));
                        if (s >= NearDuplicates.THRESHOLD && (s > similarity[j] || (s == similarity[j] && i < match[j]))) {
                            match[j] = i;
                            similarity[j] = s;
                        }
                    }
                }
            }
        }
    }

    /** This leakage with the start of each pair's prompts, read again from the two files (only those lines). */
    Leakage withExcerpts(Path trainFile, Path validationFile) {
        if (pairs.isEmpty()) {
            return this;
        }
        Set<Integer> trainLines = new HashSet<>();
        Set<Integer> validationLines = new HashSet<>();
        pairs.forEach(p -> {
            trainLines.add(p.trainLine());
            validationLines.add(p.validationLine());
        });
        Map<Integer, String> trainPrompts = prompts(trainFile, trainLines);
        Map<Integer, String> validationTexts = prompts(validationFile, validationLines);
        List<Pair> shown = pairs.stream().map(p -> new Pair(p.trainLine(), p.validationLine(), p.exact(), p.similarity(),
                trainPrompts.get(p.trainLine()), validationTexts.get(p.validationLine()))).toList();
        return new Leakage(validationPrompts, exact, near, shown);
    }

    /** The prompts of the given lines, abbreviated; other lines are skipped unchecked. */
    private static Map<Integer, String> prompts(Path file, Set<Integer> lines) {
        Map<Integer, String> prompts = new LinkedHashMap<>();
        RecordChecker checker = new RecordChecker((line, code, message) -> {}, false, false, null, file);
        JsonlSource.read(file, new JsonlSource.Visitor() {
            @Override
            public void record(int line, JsonNode node) {
                CheckedRecord r = lines.contains(line) ? checker.check(line, node) : null;
                if (r != null) {
                    String prompt = r.prompt().strip().replaceAll("\\s+", " ");
                    prompts.put(line, prompt.length() <= EXCERPT ? prompt : prompt.substring(0, EXCERPT - 3) + "...");
                }
            }

            @Override
            public void problem(int line, String code, String message) {}
        });
        return prompts;
    }
}
