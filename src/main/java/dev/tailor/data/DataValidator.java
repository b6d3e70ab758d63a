package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * {@code tailor data validate}: reads a data file once, streaming, and reports every error (with
 * its line and code), the guide's warnings and statistics. Per record it runs the same
 * {@link RecordChecker} as training's {@link Dataset#load}; across records it keeps only what the
 * file-wide findings need: a hash per example (exact duplicates), a 32-int MinHash signature
 * (near-duplicates), counts of system prompts and short answers, and a length per example (characters,
 * and tokens with a model).
 */
public final class DataValidator {
    /** Errors and warnings shown per code; the rest are counted. */
    public static final int MAX_PER_CODE = 20;
    /** The guide: fewer examples "rarely produces meaningful improvements". */
    public static final int FEW_EXAMPLES = 50;
    /** An assistant answer this short (words) looks like a label of a classification-style set. */
    static final int SHORT_ANSWER_WORDS = 3;
    /** Fewer short answers than this say nothing about class balance. */
    static final int MIN_FOR_BALANCE = 10;
    /** Distinct system prompts and short answers remembered (bounded memory on huge files). */
    private static final int MAX_DISTINCT = 10_000;

    private final DataFormat forced;
    private final ChatEncoder encoder;
    private final int maxSeqLen;

    /**
     * @param forced the format to check against, or null to detect it
     * @param encoder the model's tokenizer and chat template for token counts, or null
     * @param maxSeqLen the training length that over-long examples are reported against (used with an encoder)
     */
    public DataValidator(DataFormat forced, ChatEncoder encoder, int maxSeqLen) {
        if (maxSeqLen < 1) {
            throw new IllegalArgumentException("maxSeqLen must be positive: " + maxSeqLen);
        }
        this.forced = forced;
        this.encoder = encoder;
        this.maxSeqLen = maxSeqLen;
    }

    /** Validates the file; never modifies it. Throws TailorException only when it cannot be opened. */
    public ValidationReport validate(Path file) {
        return validate(file, null);
    }

    /** Validates the file, handing each valid record to onRecord (null: none) as well, e.g. for the report's prompt index. */
    ValidationReport validate(Path file, Consumer<CheckedRecord> onRecord) {
        Run run = new Run(file, onRecord);
        boolean array;
        try {
            array = JsonlSource.read(file, run);
        } catch (TailorException e) {
            if (run.records == 0 && run.lastLine == 0) {
                throw e;
            }
            run.error(run.lastLine + 1, "unreadable", e.getMessage());
            array = false;
        }
        if (array) {
            run.warning(null, "json_array", "the file is one JSON array, not JSONL; it was read, but training APIs expect"
                    + " one JSON object per line: convert it to JSONL");
        }
        return run.report();
    }

    /** One validation: the collected issues and the state the file-wide checks need. */
    private final class Run implements JsonlSource.Visitor, RecordChecker.Sink {
        final RecordChecker checker;
        final List<DataIssue> errors = new ArrayList<>();
        final List<DataIssue> warnings = new ArrayList<>();
        final Map<String, Integer> errorCounts = new TreeMap<>();
        final Map<String, Integer> warningCounts = new TreeMap<>();
        int records;
        int valid;
        int lastLine;
        int images;
        int withoutSystem;
        int firstWithoutSystem;
        int withoutUser;
        int firstWithoutUser;
        int conversations;
        int shortAnswers;
        int truncated;
        int answersCut;
        final Map<String, Integer> roles = new TreeMap<>();
        final Map<String, Integer> systemPrompts = new HashMap<>();
        final Map<String, Integer> answers = new HashMap<>();
        final Map<Long, Integer> firstLineOfHash = new HashMap<>();
        final Map<Integer, List<Integer>> exactDuplicates = new TreeMap<>();
        final NearDuplicates near = new NearDuplicates();
        final IntList messageCounts = new IntList();
        final IntList tokenCounts = new IntList();
        final IntList characterCounts = new IntList();
        final Consumer<CheckedRecord> onRecord;

        Run(Path file, Consumer<CheckedRecord> onRecord) {
            checker = new RecordChecker(this, false, encoder != null, forced, file);
            this.onRecord = onRecord;
        }

        @Override
        public void record(int line, JsonNode node) {
            records++;
            lastLine = line;
            CheckedRecord r = checker.check(line, node);
            if (r != null) {
                valid++;
                collect(r);
                if (onRecord != null) {
                    onRecord.accept(r);
                }
            }
        }

        @Override
        public void problem(int line, String code, String message) {
            records++;
            lastLine = line;
            error(line, code, message);
        }

        @Override
        public void error(int line, String code, String message) {
            add(errors, errorCounts, new DataIssue(line, code, message));
        }

        @Override
        public void warning(int line, String code, String message) {
            warning((Integer) line, code, message);
        }

        void warning(Integer line, String code, String message) {
            add(warnings, warningCounts, new DataIssue(line, code, message));
        }

        private void add(List<DataIssue> shown, Map<String, Integer> counts, DataIssue issue) {
            int count = counts.merge(issue.code(), 1, Integer::sum);
            if (count <= MAX_PER_CODE) {
                shown.add(issue);
            }
        }

        private void collect(CheckedRecord r) {
            images += r.images();
            characterCounts.add(r.characters());
            if (!r.roles().isEmpty()) {
                conversations++;
                messageCounts.add(r.roles().size());
                r.roles().forEach(role -> roles.merge(role, 1, Integer::sum));
                if (r.systemPrompt() == null) {
                    firstWithoutSystem = withoutSystem++ == 0 ? r.line() : firstWithoutSystem;
                } else if (systemPrompts.size() < MAX_DISTINCT || systemPrompts.containsKey(r.systemPrompt())) {
                    systemPrompts.merge(r.systemPrompt(), 1, Integer::sum);
                }
                if (!r.roles().contains("user")) {
                    firstWithoutUser = withoutUser++ == 0 ? r.line() : firstWithoutUser;
                }
            }
            String answer = r.finalAnswer() == null ? null : r.finalAnswer().strip();
            if (answer != null && !answer.isEmpty() && atMostWords(answer, SHORT_ANSWER_WORDS)) {
                shortAnswers++;
                if (answers.size() < MAX_DISTINCT || answers.containsKey(answer)) {
                    answers.merge(answer, 1, Integer::sum);
                }
            }
            Integer first = firstLineOfHash.putIfAbsent(hash(r.text()), r.line());
            if (first != null) {
                exactDuplicates.computeIfAbsent(first, f -> new ArrayList<>(List.of(f))).add(r.line());
            } else {
                near.add(r.line(), r.text());
            }
            if (encoder != null && !r.examples().isEmpty()) {
                count(r);
            }
        }

        /** Token length (the longer side of a pair) and what truncation to maxSeqLen would remove. */
        private void count(CheckedRecord r) {
            TokenizedExample longest = null;
            for (Example example : r.examples()) {
                TokenizedExample t;
                try {
                    t = encoder.encode(example, Integer.MAX_VALUE);
                } catch (TailorException | IllegalStateException e) {
                    error(r.line(), "encoding_failed", e.getMessage().replaceAll("\\s+", " ")
                            + (e instanceof TailorException ? "" : "; check the model's chat template"));
                    return;
                }
                longest = longest == null || t.length() > longest.length() ? t : longest;
            }
            tokenCounts.add(longest.length());
            if (longest.length() <= maxSeqLen) {
                return;
            }
            truncated++;
            int trainedKept = 0;
            int trainedCut = 0;
            for (int i = 0; i < longest.length(); i++) {
                if (longest.labels()[i] != ChatEncoder.IGNORE) {
                    if (i < maxSeqLen) {
                        trainedKept++;
                    } else {
                        trainedCut++;
                    }
                }
            }
            int cut = longest.length() - maxSeqLen;
            answersCut += trainedKept > 0 && trainedCut > 0 ? 1 : 0;
            if (trainedKept == 0) {
                warning(r.line(), "assistant_truncated", "the example has " + longest.length() + " tokens and truncation to --max-seq-len "
                        + maxSeqLen + " removes every trained (assistant) token, so training skips it; shorten the prompt or raise --max-seq-len");
            } else {
                warning(r.line(), "too_long", "the example has " + longest.length() + " tokens, over --max-seq-len " + maxSeqLen
                        + ": truncation removes the last " + cut + " tokens, " + trainedCut + " of them trained (assistant) tokens;"
                        + " shorten it or raise --max-seq-len");
            }
        }

        ValidationReport report() {
            if (records == 0 && errors.isEmpty()) {
                add(errors, errorCounts, new DataIssue(null, "empty_file", "the file has no examples; write one JSON object per line"));
            }
            List<List<Integer>> nearClusters = near.clusters();
            fileWarnings(nearClusters);
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put("valid_examples", valid);
            if (conversations > 0) {
                stats.put("messages_per_example", messageCounts.summary());
            }
            if (characterCounts.size > 0) {
                stats.put("characters_per_example", characterCounts.summary());
            }
            if (tokenCounts.size > 0) {
                stats.put("tokens_per_example", tokenCounts.summary());
                stats.put("over_max_seq_len", truncated);
                stats.put("answers_cut_short", answersCut);
                stats.put("max_seq_len", maxSeqLen);
            }
            if (conversations > 0) {
                stats.put("role_counts", roles);
                stats.put("distinct_system_prompts", systemPrompts.size());
                stats.put("examples_without_system_message", withoutSystem);
            }
            if (images > 0) {
                stats.put("images", images);
            }
            stats.put("short_answers", shortAnswerStats());
            stats.put("exact_duplicate_clusters", exactDuplicates.size());
            stats.put("exact_duplicate_examples", copies(exactDuplicates.values()));
            stats.put("near_duplicate_clusters", nearClusters.size());
            stats.put("near_duplicate_examples", copies(nearClusters));
            stats.put("errors_by_code", errorCounts);
            stats.put("warnings_by_code", warningCounts);
            DataFormat format = checker.fileFormat();
            if (format == DataFormat.CHAT && images > 0) {
                format = DataFormat.VISION;
            }
            return new ValidationReport(format == null ? null : format.id(), records, List.copyOf(errors), List.copyOf(warnings), stats,
                    characterCounts.toArray(), encoder == null ? null : tokenCounts.toArray());
        }

        /** The examples a dedupe would remove: every cluster member but its first. */
        private static int copies(Collection<List<Integer>> clusters) {
            return clusters.stream().mapToInt(c -> c.size() - 1).sum();
        }

        private Map<String, Object> shortAnswerStats() {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("examples", shortAnswers);
            s.put("distinct", answers.size());
            Map<String, Integer> top = new LinkedHashMap<>();
            answers.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()
                    .thenComparing(Map.Entry.comparingByKey())).limit(10).forEach(e -> top.put(e.getKey(), e.getValue()));
            s.put("top", top);
            return s;
        }

        private void fileWarnings(List<List<Integer>> nearClusters) {
            if (records > 0 && records < FEW_EXAMPLES) {
                warning(null, "few_examples", "only " + records + " examples: fewer than " + FEW_EXAMPLES
                        + " rarely produces meaningful improvements; aim for 100-500"
                        + (records < 10 ? " (OpenAI requires at least 10)" : ""));
            }
            if (withoutSystem > 0) {
                warning(withoutSystem == conversations ? null : firstWithoutSystem, "missing_system_message",
                        (withoutSystem == conversations ? "no example has a system message" : withoutSystem + " of " + conversations
                                + " examples have no system message (first at line " + firstWithoutSystem + ")")
                        + "; add the system prompt you will use at inference to every example");
            }
            if (withoutUser > 0) {
                warning(firstWithoutUser, "missing_user_message", withoutUser + " examples have no user message (first at line "
                        + firstWithoutUser + "); add the user's turn");
            }
            if (systemPrompts.size() > 1) {
                Map.Entry<String, Integer> common = systemPrompts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow();
                warning(null, "inconsistent_system_prompts", systemPrompts.size() + " distinct system prompts (the most common, \""
                        + abbreviate(common.getKey()) + "\", in " + common.getValue() + " of " + (conversations - withoutSystem)
                        + " examples); use the same system prompt in training and at inference");
            }
            for (List<Integer> cluster : exactDuplicates.values()) {
                warning(cluster.get(0), "duplicate_examples", "lines " + lines(cluster) + " are identical examples;"
                        + " remove the copies (tailor data dedupe)");
            }
            for (List<Integer> cluster : nearClusters) {
                warning(cluster.get(0), "near_duplicates", "lines " + lines(cluster) + " are near-duplicates (MinHash similarity >= "
                        + NearDuplicates.THRESHOLD + "); keep one of each or vary them");
            }
            if (shortAnswers >= Math.max(MIN_FOR_BALANCE, valid / 2)) {
                Map.Entry<String, Integer> top = answers.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow();
                if (top.getValue() * 2 > shortAnswers) {
                    warning(null, "imbalanced_answers", "the answer \"" + abbreviate(top.getKey()) + "\" is " + top.getValue() + " of "
                            + shortAnswers + " short answers (" + Math.round(100.0 * top.getValue() / shortAnswers)
                            + "%); the model learns to favour it: balance the classes");
                }
            }
        }
    }

    private static String lines(List<Integer> cluster) {
        String shown = cluster.stream().limit(10).map(String::valueOf).collect(Collectors.joining(", "));
        return cluster.size() > 10 ? shown + " (+" + (cluster.size() - 10) + " more)" : shown;
    }

    private static String abbreviate(String text) {
        String line = text.replaceAll("\\s+", " ");
        return line.length() <= 60 ? line : line.substring(0, 57) + "...";
    }

    /** 64-bit FNV-1a over the text's chars: collisions are negligible at millions of examples. */
    static long hash(String text) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < text.length(); i++) {
            h = (h ^ text.charAt(i)) * 0x100000001b3L;
        }
        return h;
    }

    /** Whether the stripped, non-empty text has at most max whitespace-separated words (stops counting early, unlike split). */
    private static boolean atMostWords(String stripped, int max) {
        int words = 1;
        for (int i = 1; i < stripped.length(); i++) {
            if (Character.isWhitespace(stripped.charAt(i)) && !Character.isWhitespace(stripped.charAt(i - 1)) && ++words > max) {
                return false;
            }
        }
        return true;
    }

    /** A growable int array with its distribution summary. */
    private static final class IntList {
        int[] values = new int[256];
        int size;

        void add(int v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }

        /** min, median, p95 and max (nearest rank). */
        Map<String, Integer> summary() {
            int[] sorted = Arrays.copyOf(values, size);
            Arrays.sort(sorted);
            Map<String, Integer> s = new LinkedHashMap<>();
            s.put("min", sorted[0]);
            s.put("median", sorted[rank(0.5)]);
            s.put("p95", sorted[rank(0.95)]);
            s.put("max", sorted[size - 1]);
            return s;
        }

        private int rank(double p) {
            return Math.max(0, (int) Math.ceil(p * size) - 1);
        }
    }
}
