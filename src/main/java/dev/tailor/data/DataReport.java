package dev.tailor.data;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code tailor data report}: the guide's data-quality checklist for a training file, with the
 * validator's findings, the length distribution, the answer classes, train/validation leakage and
 * (when attached) the cost estimate; rendered for the terminal ({@link #summary}), as one
 * self-contained HTML file ({@link ReportHtml}) and as JSON ({@link #toJson}).
 *
 * @param file the training file as given
 * @param train its validation report
 * @param prompts its prompt statistics
 * @param validationFile the validation file as given, or null
 * @param validation its validation report, or null
 * @param leakage the prompts the two files share, or null without a validation file
 * @param checklist one row per checklist item
 * @param estimate the cost estimate section as key/value pairs, or null: THE place where the cost
 *     estimate of {@code tailor data estimate} is attached ({@link #withEstimate}); rendered as a
 *     key/value table (nested maps as nested tables)
 */
public record DataReport(String file, ValidationReport train, PromptStats prompts, String validationFile, ValidationReport validation,
        Leakage leakage, List<CheckItem> checklist, Map<String, Object> estimate) {

    /**
     * How varied the training prompts are.
     *
     * @param prompts examples with a (non-blank) prompt
     * @param distinct different prompts among them
     * @param conflicting prompts that appear with two or more different answers
     * @param conflicts the lines of the first {@link #MAX_CONFLICTS} of them
     */
    public record PromptStats(int prompts, int distinct, int conflicting, List<List<Integer>> conflicts) {
        public static final int MAX_CONFLICTS = 20;

        static PromptStats of(PromptIndex index) {
            List<PromptIndex.Conflict> all = index.conflicts();
            return new PromptStats(index.size(), index.distinct(), all.size(),
                    all.stream().limit(MAX_CONFLICTS).map(PromptIndex.Conflict::lines).toList());
        }

        Map<String, Object> toJson() {
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("prompts", prompts);
            json.put("distinct", distinct);
            json.put("conflicting", conflicting);
            json.put("conflicts", conflicts);
            return json;
        }
    }

    /**
     * Validates the training file (and the validation file) once each, streaming, and derives the
     * checklist; the files are never modified.
     *
     * @param validationFile null for none
     * @param encoder the model's tokenizer and chat template for token counts, or null (lengths in characters)
     * @param maxSeqLen the training length truncation is checked against (with an encoder)
     */
    public static DataReport build(Path file, Path validationFile, ChatEncoder encoder, int maxSeqLen) {
        DataValidator validator = new DataValidator(null, encoder, maxSeqLen);
        PromptIndex trainPrompts = new PromptIndex(validationFile != null);
        ValidationReport train = validator.validate(file, trainPrompts);
        PromptStats prompts = PromptStats.of(trainPrompts);
        ValidationReport validation = null;
        Leakage leakage = null;
        if (validationFile != null) {
            PromptIndex validationPrompts = new PromptIndex(true);
            validation = validator.validate(validationFile, validationPrompts);
            leakage = Leakage.find(trainPrompts, validationPrompts).withExcerpts(file, validationFile);
        }
        String validationName = validationFile == null ? null : validationFile.toString();
        return new DataReport(file.toString(), train, prompts, validationName, validation, leakage,
                Checklist.of(train, prompts, validation, validationName, leakage), null);
    }

    /** This report with the cost estimate section (key/value pairs, e.g. a cost estimate's JSON object). */
    public DataReport withEstimate(Map<String, Object> estimate) {
        return new DataReport(file, train, prompts, validationFile, validation, leakage, checklist, estimate);
    }

    /** Both files are usable for training (no errors; warnings are advice). */
    public boolean usable() {
        return train.usable() && (validation == null || validation.usable());
    }

    /** Whether the answer-class chart and table apply: the validator's classification-style rule. */
    public boolean classificationStyle() {
        return Checklist.classificationStyle(train);
    }

    /** The report as one JSON object: the checklist, each file's validation JSON with its length histogram, leakage and estimate. */
    public Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("file", file);
        json.put("usable", usable());
        json.put("checklist", checklist.stream().map(CheckItem::toJson).toList());
        Map<String, Object> trainJson = fileJson(train);
        trainJson.put("prompts", prompts.toJson());
        json.put("train", trainJson);
        if (validation != null) {
            json.put("validation_file", validationFile);
            json.put("validation", fileJson(validation));
            json.put("leakage", leakageJson());
        }
        if (estimate != null) {
            json.put("estimate", estimate);
        }
        return json;
    }

    private static Map<String, Object> fileJson(ValidationReport report) {
        Map<String, Object> json = new LinkedHashMap<>(report.toJson());
        LengthHistogram histogram = LengthHistogram.of(report);
        json.put("length_histogram", histogram == null ? null : histogram.toJson());
        return json;
    }

    private Map<String, Object> leakageJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("validation_prompts", leakage.validationPrompts());
        json.put("exact", leakage.exact());
        json.put("near", leakage.near());
        json.put("pairs", leakage.pairs().stream().map(p -> {
            Map<String, Object> pair = new LinkedHashMap<>();
            pair.put("train_line", p.trainLine());
            pair.put("validation_line", p.validationLine());
            pair.put("match", p.exact() ? "exact" : "near");
            pair.put("similarity", p.similarity());
            pair.put("train_prompt", p.trainPrompt());
            pair.put("validation_prompt", p.validationPrompt());
            return pair;
        }).toList());
        return json;
    }

    /** The terminal summary: each file in a line, the checklist with its evidence, leakage, the estimate and where the HTML is. */
    public String summary(String htmlFile) {
        StringBuilder out = new StringBuilder();
        out.append(headline(file, train)).append('\n');
        if (validation != null) {
            out.append("validation ").append(headline(validationFile, validation)).append('\n');
        }
        out.append("checklist:\n");
        for (CheckItem row : checklist) {
            String head = String.format("  %-16s %-5s ", row.item(), row.status().id());
            for (int i = 0; i < row.evidence().size(); i++) {
                out.append(i == 0 ? head : " ".repeat(head.length())).append(row.evidence().get(i)).append('\n');
            }
        }
        if (leakage != null && leakage.leaked() > 0) {
            out.append("leakage: ").append(leakage.leaked()).append(" of ").append(leakage.validationPrompts())
                    .append(" validation prompts are in the training file (").append(leakage.exact()).append(" exact, ")
                    .append(leakage.near()).append(" near-duplicates)\n");
            leakage.pairs().stream().limit(5).forEach(p -> out.append("  train line ").append(p.trainLine())
                    .append(" <-> validation line ").append(p.validationLine())
                    .append(p.exact() ? " (exact)" : String.format(Locale.ROOT, " (similarity %.2f)", p.similarity())).append('\n'));
        }
        if (estimate != null) {
            out.append("estimate:\n");
            estimate.forEach((key, value) -> out.append("  ").append(key.replace('_', ' ')).append(": ")
                    .append(ValidationReport.describe(value)).append('\n'));
        }
        out.append("report: ").append(htmlFile).append('\n');
        out.append(usable() ? "result: usable" + (checklist.stream().anyMatch(r -> r.status() == CheckItem.Status.WARN
                || r.status() == CheckItem.Status.FAIL) ? " (read the checklist)" : "") + "\n"
                : "result: NOT usable; fix the errors (tailor data validate lists them) and run the report again\n");
        return out.toString();
    }

    /** "FILE: format, N examples, E errors, W warnings". */
    static String headline(String name, ValidationReport report) {
        return name + ": " + (report.format() == null ? "no valid example" : report.format()) + ", " + report.examples()
                + (report.examples() == 1 ? " example, " : " examples, ") + count(report, "errors_by_code") + " errors, "
                + count(report, "warnings_by_code") + " warnings";
    }

    @SuppressWarnings("unchecked")
    private static int count(ValidationReport report, String key) {
        return ((Map<String, Integer>) report.stats().getOrDefault(key, Map.of())).values().stream().mapToInt(Integer::intValue).sum();
    }
}
