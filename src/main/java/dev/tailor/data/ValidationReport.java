package dev.tailor.data;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The outcome of {@link DataValidator#validate}: the file's format (null when no record was
 * valid), how many examples (records) it has, the errors and warnings shown (at most
 * {@link DataValidator#MAX_PER_CODE} per code; the totals per code are in the stats as
 * errors_by_code and warnings_by_code) and the statistics; for charts, the length of each valid
 * example in characters and, when a model was given, in tokens (null without one). The lengths are
 * not part of {@link #toJson}.
 */
public record ValidationReport(String format, int examples, List<DataIssue> errors, List<DataIssue> warnings,
        Map<String, Object> stats, int[] characterLengths, int[] tokenLengths) {

    /** Usable for training: no errors (warnings are advice). */
    public boolean usable() {
        return errors.isEmpty();
    }

    /** The JSON object of {@code tailor data validate --json}. */
    public Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("format", format);
        json.put("examples", examples);
        json.put("errors", errors);
        json.put("warnings", warnings);
        json.put("stats", stats);
        return json;
    }

    /** A readable summary for the terminal. */
    public String summary(String fileName) {
        StringBuilder out = new StringBuilder();
        out.append(fileName).append(": ").append(format == null ? "no valid example" : format).append(", ")
                .append(examples).append(examples == 1 ? " example, " : " examples, ")
                .append(total("errors_by_code")).append(" errors, ").append(total("warnings_by_code")).append(" warnings\n");
        section(out, "errors", errors, "errors_by_code");
        section(out, "warnings", warnings, "warnings_by_code");
        out.append("stats:\n");
        for (Map.Entry<String, Object> stat : stats.entrySet()) {
            if (!stat.getKey().endsWith("_by_code")) {
                out.append("  ").append(stat.getKey().replace('_', ' ')).append(": ").append(describe(stat.getValue())).append('\n');
            }
        }
        out.append(usable() ? "result: usable" + (warnings.isEmpty() ? "" : " (read the warnings)") + "\n"
                : "result: NOT usable; fix the errors above and validate again\n");
        return out.toString();
    }

    private void section(StringBuilder out, String title, List<DataIssue> issues, String countsKey) {
        if (issues.isEmpty()) {
            return;
        }
        out.append(title).append(":\n");
        for (DataIssue issue : issues) {
            out.append("  ").append(issue.line() == null ? "file" : "line " + issue.line())
                    .append(" [").append(issue.code()).append("] ").append(issue.message()).append('\n');
        }
        Map<String, Integer> counts = counts(countsKey);
        for (Map.Entry<String, Integer> count : counts.entrySet()) {
            long shown = issues.stream().filter(i -> i.code().equals(count.getKey())).count();
            if (count.getValue() > shown) {
                out.append("  ... and ").append(count.getValue() - shown).append(" more ").append(count.getKey()).append('\n');
            }
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Integer> counts(String key) {
        return (Map<String, Integer>) stats.getOrDefault(key, Map.of());
    }

    private int total(String key) {
        return counts(key).values().stream().mapToInt(Integer::intValue).sum();
    }

    /** A statistic in words: maps as "key value, key value", lists separated by "; ", decimals to 6 digits, null as n/a. */
    static String describe(Object value) {
        if (value instanceof Map<?, ?> map) {
            StringBuilder s = new StringBuilder();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                s.append(s.length() == 0 ? "" : ", ").append(e.getKey()).append(' ').append(describe(e.getValue()));
            }
            return s.toString();
        }
        if (value instanceof List<?> list) {
            return list.stream().map(ValidationReport::describe).collect(Collectors.joining("; "));
        }
        if (value instanceof Double d && Double.isFinite(d)) {
            return new BigDecimal(d).round(new MathContext(6)).stripTrailingZeros().toPlainString();
        }
        return value == null ? "n/a" : String.valueOf(value);
    }
}
