package dev.tailor.data;

import dev.tailor.data.CheckItem.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The guide's data-quality checklist ("Data Preparation Best Practices") applied to a validated
 * file: one {@link CheckItem} per item, derived only from the validator's report, the prompt
 * statistics and the leakage check, so the report and {@code tailor data validate} never disagree.
 */
final class Checklist {
    /** Redundant examples (exact or near copies) from this share on warn, and fail from {@link #FAIL_REDUNDANT}. */
    static final double WARN_REDUNDANT = 0.05;
    static final double FAIL_REDUNDANT = 0.5;
    /** Fewer distinct prompts than this share of the prompts warn: the same questions asked over and over. */
    static final double WARN_DISTINCT = 0.8;
    /** In a classification-style set with every class counted, the largest this many times the smallest warns. */
    static final int WARN_CLASS_RATIO = 5;
    /** OpenAI's minimum; fewer fail. */
    static final int MIN_EXAMPLES = 10;
    /** Errors that mean a missing or empty answer (or content): the accuracy item's, not the consistency item's. */
    static final Set<String> ANSWER_CODES = Set.of("empty_content", "missing_content", "empty_completion", "empty_text",
            "example_missing_assistant_message", "no_trained_message", "identical_preference_pair");
    /** Example warnings quoted as evidence per code. */
    private static final int QUOTED = 2;

    private Checklist() {}

    /** The rows for a training file, with its validation file and leakage when given (both null otherwise). */
    static List<CheckItem> of(ValidationReport train, DataReport.PromptStats prompts, ValidationReport validation,
            String validationFile, Leakage leakage) {
        Facts t = new Facts(train);
        List<CheckItem> rows = new ArrayList<>();
        rows.add(consistency(t));
        rows.add(diversity(t, prompts));
        rows.add(accuracy(t, prompts));
        rows.add(completeness(t));
        rows.add(balance(t));
        rows.add(length(t));
        if (validation != null) {
            rows.add(validationFile(t, new Facts(validation), validationFile));
        }
        rows.add(leakage(leakage));
        return rows;
    }

    private static CheckItem consistency(Facts t) {
        Row row = new Row();
        row.add(t.report.format() == null ? "no valid example, so no format" : "format: " + t.report.format() + ", " + t.valid
                + " valid of " + t.report.examples() + " examples");
        Map<String, Integer> broken = t.errorCounts(false);
        if (!broken.isEmpty()) {
            row.fail(sum(broken) + " errors break the format (" + counts(broken) + "); fix them (tailor data validate lists every line)");
            t.quoteErrors(row, false);
        }
        if (t.warnings("json_array") > 0) {
            row.warn("the file is one JSON array, not JSONL: training APIs expect one JSON object per line");
        }
        if (t.conversations() > 0) {
            int systems = t.stat("distinct_system_prompts");
            if (systems > 1) {
                row.warn(systems + " different system prompts");
                t.quoteWarnings(row, "inconsistent_system_prompts");
            } else if (systems == 1) {
                row.add("one system prompt for every example that has one");
            }
        }
        return row.item("consistency", "All examples follow the same format and style");
    }

    private static CheckItem diversity(Facts t, DataReport.PromptStats prompts) {
        Row row = new Row();
        if (t.valid == 0) {
            return row.skip("no valid example").item("diversity", "Cover edge cases, not just happy paths");
        }
        int exact = t.stat("exact_duplicate_examples");
        int near = t.stat("near_duplicate_examples");
        double redundant = (exact + near) / (double) t.valid;
        row.add("copies of an earlier example: " + exact + " word for word, " + near + " near-duplicates (MinHash similarity >= "
                + NearDuplicates.THRESHOLD + ", in " + t.stat("near_duplicate_clusters") + " clusters)");
        if (redundant >= FAIL_REDUNDANT) {
            row.fail(percent(exact + near, t.valid) + " of the examples repeat an earlier one: the model sees a few cases many times;"
                    + " deduplicate (tailor data dedupe) and add different cases");
        } else if (redundant >= WARN_REDUNDANT) {
            row.warn(percent(exact + near, t.valid) + " of the examples repeat an earlier one; deduplicate (tailor data dedupe) and add different cases");
        }
        t.quoteWarnings(row, "duplicate_examples");
        t.quoteWarnings(row, "near_duplicates");
        if (prompts.prompts() > 0) {
            String distinct = prompts.distinct() + " distinct prompts of " + prompts.prompts() + " (" + percent(prompts.distinct(), prompts.prompts()) + ")";
            if (prompts.distinct() < WARN_DISTINCT * prompts.prompts()) {
                row.warn(distinct + ": the same questions are asked over and over");
            } else {
                row.add(distinct);
            }
        }
        return row.item("diversity", "Cover edge cases, not just happy paths");
    }

    private static CheckItem accuracy(Facts t, DataReport.PromptStats prompts) {
        Row row = new Row();
        Map<String, Integer> empty = t.errorCounts(true);
        if (!empty.isEmpty()) {
            row.fail(sum(empty) + " empty or missing answers or messages (" + counts(empty) + ")");
            t.quoteErrors(row, true);
        }
        int lost = t.warnings("assistant_truncated");
        if (lost > 0) {
            row.warn(lost + " examples lose their whole answer to truncation at --max-seq-len " + t.stat("max_seq_len")
                    + ", so training skips them");
            t.quoteWarnings(row, "assistant_truncated");
        }
        int cut = t.stat("answers_cut_short");
        if (cut > 0) {
            row.warn(cut + " answers are cut short by truncation at --max-seq-len " + t.stat("max_seq_len")
                    + ": the model never sees how they end");
        }
        if (prompts.conflicting() > 0) {
            row.warn(prompts.conflicting() + " prompts appear with different answers, so the model learns both: keep the right one"
                    + " (" + prompts.conflicts().stream().limit(3).map(lines -> "lines " + join(lines)).collect(Collectors.joining("; ")) + ")");
        }
        if (row.status == Status.OK) {
            row.add("no empty, missing or truncated answers" + (t.has("tokens_per_example") ? "" : " (truncation needs --model)")
                    + (hasAnswers(t.report) ? " and no prompt with two different answers" : ""));
        }
        row.add("whether the answers are right only a reader can tell: read a sample before training");
        return row.item("accuracy", "Every output is correct \u2014 the model will learn your mistakes");
    }

    private static CheckItem completeness(Facts t) {
        Row row = new Row();
        String count = t.valid + " valid examples";
        if (t.valid < MIN_EXAMPLES) {
            row.fail(count + ": OpenAI requires at least " + MIN_EXAMPLES + ", and under " + DataValidator.FEW_EXAMPLES
                    + " rarely produces meaningful improvements; aim for 100-500");
        } else if (t.valid < DataValidator.FEW_EXAMPLES) {
            row.warn(count + ": under " + DataValidator.FEW_EXAMPLES + " rarely produces meaningful improvements; aim for 100-500");
        } else {
            row.add(count + (t.valid < 100 ? " (the guide: aim for 100-500)" : ""));
        }
        if (t.conversations() > 0) {
            int withoutSystem = t.stat("examples_without_system_message");
            if (withoutSystem > 0) {
                row.warn(withoutSystem + " of " + t.conversations() + " examples have no system message");
                t.quoteWarnings(row, "missing_system_message");
            } else {
                row.add("every example has a system message");
            }
            if (t.warnings("missing_user_message") > 0) {
                row.warn("some examples have no user message");
                t.quoteWarnings(row, "missing_user_message");
            }
        }
        return row.item("completeness", "Include system prompts, user context, expected behavior");
    }

    private static CheckItem balance(Facts t) {
        Row row = new Row();
        Map<String, Object> answers = t.map("short_answers");
        int shortAnswers = (Integer) answers.get("examples");
        String guide = "Don't over-represent any single scenario";
        if (!classificationStyle(t.report)) {
            return row.skip("not a classification-style set (" + shortAnswers + " of " + t.valid + " answers have "
                    + DataValidator.SHORT_ANSWER_WORDS + " words or fewer), so there are no classes to balance").item("balance", guide);
        }
        @SuppressWarnings("unchecked")
        Map<String, Integer> top = (Map<String, Integer>) answers.get("top");
        int distinct = (Integer) answers.get("distinct");
        Map.Entry<String, Integer> largest = top.entrySet().iterator().next();
        Map.Entry<String, Integer> smallest = top.entrySet().stream().reduce((a, b) -> b).orElseThrow();
        row.add(distinct + " distinct answers in " + shortAnswers + " short answers; largest \"" + abbreviate(largest.getKey()) + "\" "
                + largest.getValue() + " (" + percent(largest.getValue(), shortAnswers) + ")" + (distinct <= top.size()
                ? ", smallest \"" + abbreviate(smallest.getKey()) + "\" " + smallest.getValue() + " (" + percent(smallest.getValue(), shortAnswers) + ")" : ""));
        if (t.warnings("imbalanced_answers") > 0) {
            row.warn("one answer is over half of the set: the model learns to favour it; balance the classes");
        } else if (distinct <= top.size() && largest.getValue() >= WARN_CLASS_RATIO * smallest.getValue()) {
            row.warn("the largest class is " + WARN_CLASS_RATIO + "x or more the smallest: add examples of the rare classes");
        }
        return row.item("balance", guide);
    }

    /** Formats whose examples end in one answer to compare (a preference pair has two, rft and text none). */
    private static boolean hasAnswers(ValidationReport report) {
        return Set.of("chat", "vision", "completion").contains(String.valueOf(report.format()));
    }

    /** The validator's rule: short answers make up at least half of the set (and at least a few of them). */
    static boolean classificationStyle(ValidationReport report) {
        Facts t = new Facts(report);
        int shortAnswers = (Integer) t.map("short_answers").get("examples");
        return shortAnswers > 0 && shortAnswers >= Math.max(DataValidator.MIN_FOR_BALANCE, t.valid / 2);
    }

    private static CheckItem length(Facts t) {
        Row row = new Row();
        if (t.has("characters_per_example")) {
            row.add("characters per example: " + summary(t.map("characters_per_example")));
        }
        if (!t.has("tokens_per_example")) {
            row.skip("token counts and truncation need --model (and --max-seq-len, default 512)");
        } else {
            int over = t.stat("over_max_seq_len");
            String tokens = "tokens per example: " + summary(t.map("tokens_per_example")) + " (--max-seq-len " + t.stat("max_seq_len") + ")";
            if (over > 0) {
                row.warn(tokens + "; " + over + " examples are longer and get truncated: shorten them or raise --max-seq-len");
                t.quoteWarnings(row, "too_long");
            } else {
                row.add(tokens + "; none is longer");
            }
        }
        return row.item("length", null);
    }

    private static CheckItem validationFile(Facts t, Facts v, String name) {
        Row row = new Row();
        row.add(name + ": " + (v.report.format() == null ? "no valid example" : v.report.format()) + ", " + v.valid + " valid examples"
                + (t.valid > 0 ? " (" + percent(v.valid, t.valid) + " of the training examples)" : ""));
        int errors = sum(v.errorCounts(true)) + sum(v.errorCounts(false));
        if (errors > 0) {
            row.fail(errors + " errors: training stops at the first; tailor data validate " + name + " lists them");
        }
        if (v.report.format() != null && t.report.format() != null && !v.report.format().equals(t.report.format())) {
            row.fail("its format is " + v.report.format() + ", the training file's " + t.report.format() + ": use one format for both");
        }
        if (v.valid > 0 && v.valid < MIN_EXAMPLES) {
            row.warn("only " + v.valid + " examples: the validation loss will be noisy");
        }
        return row.item("validation file", "Overfitting \u2014 Training too long causes the model to memorize examples instead of generalizing. Use validation loss to detect this");
    }

    private static CheckItem leakage(Leakage leakage) {
        Row row = new Row();
        String guide = "Run evals on held-out test data";
        if (leakage == null) {
            return row.skip("pass --validation FILE to check that no validation prompt is also a training prompt").item("leakage", guide);
        }
        int n = leakage.validationPrompts();
        if (leakage.exact() > 0) {
            row.fail(leakage.exact() + " of " + n + " validation prompts (" + percent(leakage.exact(), n) + ") are training prompts word for word"
                    + examplePairs(leakage, true));
        }
        if (leakage.near() > 0) {
            row.warn(leakage.near() + " " + (leakage.exact() > 0 ? "more " : "of " + n + " ") + "validation prompts are near-duplicates"
                    + " of training prompts (MinHash similarity >= " + NearDuplicates.THRESHOLD + ")" + examplePairs(leakage, false));
        }
        if (leakage.leaked() > 0) {
            row.add("a leaked example measures memorisation, not generalisation: remove it from one of the files"
                    + " (tailor data split keeps near-duplicates on one side)");
        } else {
            row.add("none of the " + n + " validation prompts is a training prompt, exactly or nearly");
        }
        return row.item("leakage", guide);
    }

    private static String examplePairs(Leakage leakage, boolean exact) {
        String pairs = leakage.pairs().stream().filter(p -> p.exact() == exact).limit(3)
                .map(p -> "train line " + p.trainLine() + " <-> validation line " + p.validationLine())
                .collect(Collectors.joining(", "));
        return pairs.isEmpty() ? "" : ", e.g. " + pairs;
    }

    /** A row being built: its status only ever gets worse. */
    private static final class Row {
        Status status = Status.OK;
        final List<String> evidence = new ArrayList<>();

        void add(String line) {
            evidence.add(line);
        }

        void warn(String line) {
            status = status == Status.FAIL ? status : Status.WARN;
            evidence.add(line);
        }

        void fail(String line) {
            status = Status.FAIL;
            evidence.add(line);
        }

        Row skip(String line) {
            status = Status.SKIP;
            evidence.add(line);
            return this;
        }

        CheckItem item(String name, String guide) {
            return new CheckItem(name, status, guide, List.copyOf(evidence));
        }
    }

    /** Typed access to a validation report's statistics. */
    private static final class Facts {
        final ValidationReport report;
        final int valid;

        Facts(ValidationReport report) {
            this.report = report;
            this.valid = stat("valid_examples");
        }

        boolean has(String key) {
            return report.stats().containsKey(key);
        }

        int stat(String key) {
            Object value = report.stats().get(key);
            return value == null ? 0 : ((Number) value).intValue();
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> map(String key) {
            return (Map<String, Object>) report.stats().getOrDefault(key, Map.of());
        }

        int conversations() {
            return has("messages_per_example") ? valid : 0;
        }

        int warnings(String code) {
            Object count = map("warnings_by_code").get(code);
            return count == null ? 0 : (Integer) count;
        }

        /** Error counts by code: the answer codes, or all the others. */
        Map<String, Integer> errorCounts(boolean answers) {
            Map<String, Integer> counts = new TreeMap<>();
            map("errors_by_code").forEach((code, count) -> {
                if (ANSWER_CODES.contains(code) == answers) {
                    counts.put(code, (Integer) count);
                }
            });
            return counts;
        }

        void quoteErrors(Row row, boolean answers) {
            report.errors().stream().filter(e -> ANSWER_CODES.contains(e.code()) == answers).limit(QUOTED)
                    .forEach(e -> row.add((e.line() == null ? "" : "line " + e.line() + ": ") + e.message()));
        }

        void quoteWarnings(Row row, String code) {
            report.warnings().stream().filter(w -> w.code().equals(code)).limit(QUOTED)
                    .forEach(w -> row.add((w.line() == null ? "" : "line " + w.line() + ": ") + w.message()));
        }
    }

    private static int sum(Map<String, Integer> counts) {
        return counts.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** "code 2, other 1", or "none". */
    static String counts(Map<String, Integer> counts) {
        return counts.isEmpty() ? "none" : counts.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "));
    }

    /** A min/median/p95/max statistic in words. */
    static String summary(Map<String, ?> s) {
        return "min " + s.get("min") + ", median " + s.get("median") + ", p95 " + s.get("p95") + ", max " + s.get("max");
    }

    static String percent(int part, int whole) {
        return whole == 0 ? "0%" : Math.round(100.0 * part / whole) + "%";
    }

    private static String join(List<Integer> lines) {
        return lines.stream().limit(5).map(String::valueOf).collect(Collectors.joining(", ")) + (lines.size() > 5 ? ", ..." : "");
    }

    private static String abbreviate(String text) {
        String line = text.replaceAll("\\s+", " ");
        return line.length() <= 40 ? line : line.substring(0, 37) + "...";
    }
}
