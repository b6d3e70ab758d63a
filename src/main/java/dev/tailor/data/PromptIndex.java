package dev.tailor.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * The prompts of one data file, as the report needs them: per example its line, a hash of its
 * prompt and of its final answer, and (for leakage) the prompt's MinHash signature. Fed by
 * {@link DataValidator} during its one pass; prompts without text are left out, since an empty
 * prompt says nothing about leakage or diversity.
 */
final class PromptIndex implements Consumer<CheckedRecord> {
    /** A prompt seen with different answers: its lines, in file order. */
    record Conflict(List<Integer> lines) {}

    private final boolean withSignatures;
    private int[] lines = new int[256];
    private long[] prompts = new long[256];
    private long[] answers = new long[256];
    private final List<int[]> signatures = new ArrayList<>();
    private int size;

    /** @param withSignatures whether to keep MinHash signatures (32 ints per prompt), needed for near-duplicate leakage */
    PromptIndex(boolean withSignatures) {
        this.withSignatures = withSignatures;
    }

    @Override
    public void accept(CheckedRecord r) {
        // several chosen answers per prompt are normal in preference data: no answer, so no conflicts
        add(r.line(), r.prompt(), r.format() == DataFormat.PREFERENCE ? null : r.finalAnswer());
    }

    /** Adds an example's prompt and final answer (null: none); blank prompts are ignored. */
    void add(int line, String prompt, String answer) {
        if (prompt == null || prompt.isBlank()) {
            return;
        }
        if (size == lines.length) {
            lines = Arrays.copyOf(lines, size * 2);
            prompts = Arrays.copyOf(prompts, size * 2);
            answers = Arrays.copyOf(answers, size * 2);
        }
        lines[size] = line;
        prompts[size] = DataValidator.hash(prompt);
        answers[size] = answer == null ? 0 : DataValidator.hash(answer.strip());
        if (withSignatures) {
            signatures.add(NearDuplicates.signature(prompt));
        }
        size++;
    }

    int size() {
        return size;
    }

    int line(int i) {
        return lines[i];
    }

    long promptHash(int i) {
        return prompts[i];
    }

    /** The prompt's MinHash signature, or null when it has no words. */
    int[] signature(int i) {
        if (!withSignatures) {
            throw new IllegalStateException("this index keeps no signatures");
        }
        return signatures.get(i);
    }

    /** How many different prompts the file has. */
    int distinct() {
        long[] sorted = Arrays.copyOf(prompts, size);
        Arrays.sort(sorted);
        int distinct = 0;
        for (int i = 0; i < size; i++) {
            distinct += i == 0 || sorted[i] != sorted[i - 1] ? 1 : 0;
        }
        return distinct;
    }

    /** Every prompt that appears with two or more different answers, ordered by its first line. */
    List<Conflict> conflicts() {
        Integer[] order = IntStream.range(0, size).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingLong(i -> prompts[i]).thenComparingInt(i -> i));
        List<Conflict> conflicts = new ArrayList<>();
        for (int start = 0, end; start < size; start = end) {
            end = start + 1;
            boolean differ = false;
            while (end < size && prompts[order[end]] == prompts[order[start]]) {
                differ |= answers[order[end]] != answers[order[start]];
                end++;
            }
            if (differ && IntStream.range(start, end).allMatch(k -> answers[order[k]] != 0)) {
                conflicts.add(new Conflict(IntStream.range(start, end).mapToObj(k -> lines[order[k]]).toList()));
            }
        }
        conflicts.sort(Comparator.comparing(c -> c.lines().get(0)));
        return conflicts;
    }
}
