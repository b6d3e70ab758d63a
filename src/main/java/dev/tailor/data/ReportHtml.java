package dev.tailor.data;

import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The data report as one self-contained HTML page: inline CSS, charts as PNG data URLs, no script
 * and nothing fetched, so it opens offline and can be mailed as one file. Every string that comes
 * from the data (prompts, answers, messages quoting them, file names) is HTML-escaped.
 */
public final class ReportHtml {
    private static final String STYLE = """
            body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;\
            color:#222;line-height:1.4;padding:0 1em}
            h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
            table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #ddd;padding:.35em .5em;\
            vertical-align:top;text-align:left}th{background:#f4f4f4}
            td ul{margin:0;padding-left:1.1em}.guide{color:#555;font-style:italic}
            .status{font-weight:bold;text-transform:uppercase;font-size:.85em;white-space:nowrap}
            .ok{color:#1a7f37}.warn{color:#9a6700}.fail{color:#cf222e}.skip{color:#777}
            .num{text-align:right;white-space:nowrap}img{max-width:100%;height:auto;border:1px solid #eee}
            code,.prompt{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
            """;

    private ReportHtml() {}

    /** The page; charts are rendered here. */
    public static String render(DataReport report) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Data report: ")
                .append(escape(report.file())).append("</title>\n<style>\n").append(STYLE).append("</style>\n</head>\n<body>\n");
        h.append("<h1>Data report: <code>").append(escape(report.file())).append("</code></h1>\n");
        h.append("<p>").append(escape(DataReport.headline(report.file(), report.train())));
        if (report.validation() != null) {
            h.append("<br>validation: ").append(escape(DataReport.headline(report.validationFile(), report.validation())));
        }
        h.append("<br><strong>").append(report.usable() ? "usable for training" : "NOT usable: fix the errors below")
                .append("</strong></p>\n");
        checklist(h, report.checklist());
        lengths(h, report);
        if (report.classificationStyle()) {
            answers(h, report);
        }
        leakage(h, report);
        if (report.estimate() != null) {
            h.append("<h2 id=\"estimate\">Cost estimate</h2>\n");
            keyValues(h, report.estimate());
        }
        issues(h, report.file(), report.train());
        if (report.validation() != null) {
            issues(h, report.validationFile(), report.validation());
        }
        h.append("<p class=\"guide\">Written by tailor data report. The checklist items and quotes are from the guide's"
                + " \u201cData Preparation Best Practices\u201d and \u201cCommon Mistakes\u201d.</p>\n</body>\n</html>\n");
        return h.toString();
    }

    private static void checklist(StringBuilder h, List<CheckItem> rows) {
        h.append("<h2 id=\"checklist\">Checklist</h2>\n<table>\n<tr><th>item</th><th>status</th><th>evidence</th></tr>\n");
        for (CheckItem row : rows) {
            h.append("<tr><td>").append(escape(row.item())).append("</td><td class=\"status ").append(row.status().id()).append("\">")
                    .append(row.status().id()).append("</td><td>");
            if (row.guide() != null) {
                h.append("<div class=\"guide\">\u201c").append(escape(row.guide())).append("\u201d</div>");
            }
            h.append("<ul>");
            row.evidence().forEach(line -> h.append("<li>").append(escape(line)).append("</li>"));
            h.append("</ul></td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static void lengths(StringBuilder h, DataReport report) {
        h.append("<h2 id=\"lengths\">Lengths</h2>\n");
        lengthChart(h, report.file(), report.train());
        if (report.validation() != null) {
            lengthChart(h, report.validationFile(), report.validation());
        }
    }

    private static void lengthChart(StringBuilder h, String name, ValidationReport report) {
        LengthHistogram histogram = LengthHistogram.of(report);
        if (histogram == null) {
            h.append("<p>").append(escape(name)).append(": no valid example to measure.</p>\n");
            return;
        }
        Integer maxSeqLen = (Integer) report.stats().get("max_seq_len");
        h.append("<p>").append(escape(name)).append(": ").append(histogram.total()).append(" examples, ").append(histogram.unit())
                .append(" per example: ").append(escape(Checklist.summary(stats(report, histogram.unit() + "_per_example"))))
                .append(histogram.unit().equals("characters") ? " (pass --model to count tokens)" : ", --max-seq-len " + maxSeqLen)
                .append("</p>\n");
        image(h, ReportCharts.lengths(name, histogram, maxSeqLen), "length histogram of " + name);
    }

    @SuppressWarnings("unchecked")
    private static void answers(StringBuilder h, DataReport report) {
        Map<String, Object> answers = (Map<String, Object>) report.train().stats().get("short_answers");
        Map<String, Integer> top = (Map<String, Integer>) answers.get("top");
        int total = (Integer) answers.get("examples");
        int others = total - top.values().stream().mapToInt(Integer::intValue).sum();
        h.append("<h2 id=\"answers\">Answer classes</h2>\n<p>").append(total).append(" short answers (")
                .append(DataValidator.SHORT_ANSWER_WORDS).append(" words or fewer), ").append(answers.get("distinct"))
                .append(" distinct; the most common:</p>\n");
        image(h, ReportCharts.answers("answers in " + report.file(), top, others), "answer distribution");
        h.append("<table>\n<tr><th>answer</th><th class=\"num\">examples</th><th class=\"num\">share</th></tr>\n");
        top.forEach((answer, count) -> h.append("<tr><td class=\"prompt\">").append(escape(answer)).append("</td><td class=\"num\">")
                .append(count).append("</td><td class=\"num\">").append(Checklist.percent(count, total)).append("</td></tr>\n"));
        if (others > 0) {
            h.append("<tr><td>(all other answers)</td><td class=\"num\">").append(others).append("</td><td class=\"num\">")
                    .append(Checklist.percent(others, total)).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static void leakage(StringBuilder h, DataReport report) {
        h.append("<h2 id=\"leakage\">Train/validation leakage</h2>\n");
        Leakage leakage = report.leakage();
        if (leakage == null) {
            h.append("<p>Not checked: pass <code>--validation FILE</code>.</p>\n");
            return;
        }
        h.append("<p>").append(leakage.leaked()).append(" of ").append(leakage.validationPrompts())
                .append(" validation prompts are also in the training file: ").append(leakage.exact()).append(" word for word, ")
                .append(leakage.near()).append(" as near-duplicates (MinHash similarity of word 3-grams &gt;= ")
                .append(NearDuplicates.THRESHOLD).append("). Prompts are the messages before the final answer without the"
                        + " leading system prompt (chat), the prompt (completion, preference) or the text.</p>\n");
        if (leakage.pairs().isEmpty()) {
            return;
        }
        if (leakage.leaked() > leakage.pairs().size()) {
            h.append("<p>The first ").append(leakage.pairs().size()).append(":</p>\n");
        }
        h.append("<table>\n<tr><th class=\"num\">train line</th><th class=\"num\">validation line</th><th>match</th>"
                + "<th>training prompt</th><th>validation prompt</th></tr>\n");
        for (Leakage.Pair p : leakage.pairs()) {
            h.append("<tr><td class=\"num\">").append(p.trainLine()).append("</td><td class=\"num\">").append(p.validationLine())
                    .append("</td><td>").append(p.exact() ? "exact" : String.format(Locale.ROOT, "near (%.2f)", p.similarity()))
                    .append("</td><td class=\"prompt\">").append(escape(String.valueOf(p.trainPrompt())))
                    .append("</td><td class=\"prompt\">").append(escape(String.valueOf(p.validationPrompt()))).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static void issues(StringBuilder h, String name, ValidationReport report) {
        h.append("<h2>Errors and warnings: <code>").append(escape(name)).append("</code></h2>\n");
        if (report.errors().isEmpty() && report.warnings().isEmpty()) {
            h.append("<p>None.</p>\n");
            return;
        }
        h.append("<table>\n<tr><th class=\"num\">line</th><th>kind</th><th>code</th><th>message</th></tr>\n");
        issueRows(h, "error", report.errors());
        issueRows(h, "warning", report.warnings());
        h.append("</table>\n<p>At most ").append(DataValidator.MAX_PER_CODE).append(" per code are listed. All errors: ")
                .append(escape(Checklist.counts(stats(report, "errors_by_code")))).append("; all warnings: ")
                .append(escape(Checklist.counts(stats(report, "warnings_by_code")))).append(".</p>\n");
    }

    private static void issueRows(StringBuilder h, String kind, List<DataIssue> issues) {
        for (DataIssue issue : issues) {
            h.append("<tr><td class=\"num\">").append(issue.line() == null ? "file" : issue.line()).append("</td><td class=\"")
                    .append(kind.equals("error") ? "fail" : "warn").append("\">").append(kind).append("</td><td><code>")
                    .append(escape(issue.code())).append("</code></td><td>").append(escape(issue.message())).append("</td></tr>\n");
        }
    }

    /** A key/value table: nested maps become nested tables, lists one value (or table) after another. */
    private static void keyValues(StringBuilder h, Map<?, ?> values) {
        h.append("<table>\n");
        values.forEach((key, value) -> {
            h.append("<tr><th>").append(escape(String.valueOf(key).replace('_', ' '))).append("</th><td>");
            value(h, value);
            h.append("</td></tr>\n");
        });
        h.append("</table>\n");
    }

    private static void value(StringBuilder h, Object value) {
        if (value instanceof Map<?, ?> nested) {
            keyValues(h, nested);
        } else if (value instanceof List<?> list && list.stream().anyMatch(v -> v instanceof Map<?, ?>)) {
            list.forEach(item -> value(h, item));
        } else if (value instanceof List<?> list) {
            h.append(escape(String.join(", ", list.stream().map(String::valueOf).toList())));
        } else {
            h.append(escape(ValidationReport.describe(value)));
        }
    }

    private static void image(StringBuilder h, byte[] png, String alt) {
        h.append("<p><img alt=\"").append(escape(alt)).append("\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png)).append("\"></p>\n");
    }

    @SuppressWarnings("unchecked")
    private static <V> Map<String, V> stats(ValidationReport report, String key) {
        return (Map<String, V>) report.stats().getOrDefault(key, Map.of());
    }

    /** Escapes text for HTML element content and quoted attribute values. */
    static String escape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
