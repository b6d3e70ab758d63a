package dev.tailor.serve;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How an experiment's variants compare, from the request log: per variant the traffic, mean
 * latency and tokens, and the feedback mean with a 95% confidence interval (t distribution); per
 * non-control variant Welch's two-sided t-test of its feedback scores against the control's.
 *
 * <p>{@link #toJson()} is the body of {@code GET /v1/experiments/{name}/results}:
 * <pre>
 * {"object": "experiment.results", "experiment": "support-ab", "status": "running",
 *  "control": "base", "winner": null, "computed_at": "2026-11-20T09:00:00Z", "confidence_level": 0.95,
 *  "variants": [
 *    {"name": "base", "target": "base", "weight": 90.0, "current_share": 0.9,
 *     "requests": 1800, "errors": 2, "mean_latency_ms": 812.4, "mean_time_to_first_token_ms": 95.1,
 *     "mean_prompt_tokens": 41.0, "mean_completion_tokens": 37.2,
 *     "feedback": {"count": 120, "mean": 0.61, "std_dev": 0.49, "ci95": [0.52, 0.70]}}, ...],
 *  "comparisons": [
 *    {"variant": "tuned", "control": "base", "test": "welch_t", "difference": 0.17, "t": 2.4,
 *     "df": 61.3, "p_value": 0.019, "significant": true, "note": null}]}
 * </pre>
 * Means are over requests with status ok, null when there is none; {@code std_dev} needs two
 * scores and {@code ci95} two scores; a comparison whose test is undefined (fewer than two scores
 * on a side, or no spread) has null numbers and a {@code note} that says why. {@code significant}
 * is {@code p_value < 0.05}; each variant is tested against the control alone, so with k
 * comparisons compare p against 0.05 / k for a family-wide 5% (Bonferroni). Variants found in the
 * log but no longer defined (the experiment was redefined) come last, with null target and weight.
 */
public final class ExperimentResults {
    public static final double CONFIDENCE_LEVEL = 0.95;
    private static final double ALPHA = 1 - CONFIDENCE_LEVEL;

    private final Experiment experiment;
    private final Instant at;
    private final List<VariantStats> variants;

    private ExperimentResults(Experiment experiment, Instant at, List<VariantStats> variants) {
        this.experiment = experiment;
        this.at = at;
        this.variants = List.copyOf(variants);
    }

    /** The results of what {@code log} has written for {@code experiment}, as of {@code now}. */
    public static ExperimentResults compute(Experiment experiment, RequestLog log, Instant now) {
        return of(experiment, log.variantStats(experiment.name()), now);
    }

    /** The results from per-variant statistics: control first, then the other variants in their order. */
    public static ExperimentResults of(Experiment experiment, Map<String, VariantStats> stats, Instant now) {
        List<VariantStats> ordered = new ArrayList<>();
        ordered.add(stats.getOrDefault(experiment.control().name(), VariantStats.none(experiment.control().name())));
        for (Variant v : experiment.variants()) {
            if (v != experiment.control()) {
                ordered.add(stats.getOrDefault(v.name(), VariantStats.none(v.name())));
            }
        }
        Map<String, VariantStats> undefined = new TreeMap<>(stats);
        experiment.variants().forEach(v -> undefined.remove(v.name()));
        ordered.addAll(undefined.values());
        return new ExperimentResults(experiment, now, ordered);
    }

    /** Control first. */
    public List<VariantStats> variants() {
        return variants;
    }

    public Map<String, Object> toJson() {
        Map<String, Double> shares = experiment.shares(at);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("object", "experiment.results");
        out.put("experiment", experiment.name());
        out.put("status", experiment.status(at));
        out.put("control", experiment.control().name());
        out.put("winner", experiment.winner() == null ? null : experiment.winner().name());
        out.put("computed_at", at.toString());
        out.put("confidence_level", CONFIDENCE_LEVEL);
        List<Map<String, Object>> variantJson = new ArrayList<>();
        for (VariantStats s : variants) {
            Variant defined = experiment.variants().stream().filter(v -> v.name().equals(s.variant())).findFirst().orElse(null);
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("name", s.variant());
            v.put("target", defined == null ? null : defined.target());
            v.put("weight", defined == null ? null : defined.weight());
            v.put("current_share", shares.getOrDefault(s.variant(), 0.0));
            v.put("requests", s.requests());
            v.put("errors", s.errors());
            v.put("mean_latency_ms", s.meanLatencyMs());
            v.put("mean_time_to_first_token_ms", s.meanTtftMs());
            v.put("mean_prompt_tokens", s.meanPromptTokens());
            v.put("mean_completion_tokens", s.meanCompletionTokens());
            v.put("feedback", feedbackJson(s.feedback()));
            variantJson.add(v);
        }
        out.put("variants", variantJson);
        List<Map<String, Object>> comparisons = new ArrayList<>();
        VariantStats control = variants.get(0);
        for (VariantStats s : variants.subList(1, variants.size())) {
            comparisons.add(comparisonJson(s, control));
        }
        out.put("comparisons", comparisons);
        return out;
    }

    private static Map<String, Object> feedbackJson(SampleStats scores) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("count", scores.count());
        out.put("mean", finiteOrNull(scores.mean()));
        out.put("std_dev", finiteOrNull(Math.sqrt(scores.variance())));
        double[] interval = Significance.meanInterval(scores, CONFIDENCE_LEVEL);
        out.put("ci95", interval == null ? null : List.of(interval[0], interval[1]));
        return out;
    }

    private static Map<String, Object> comparisonJson(VariantStats variant, VariantStats control) {
        Significance.WelchTest test = Significance.welch(variant.feedback(), control.feedback());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("variant", variant.variant());
        out.put("control", control.variant());
        out.put("test", "welch_t");
        out.put("difference", test == null ? null : test.difference());
        out.put("t", test == null ? null : test.t());
        out.put("df", test == null ? null : test.df());
        out.put("p_value", test == null ? null : test.pValue());
        out.put("significant", test == null ? null : test.pValue() < ALPHA);
        out.put("note", test != null ? null : whyNoTest(variant, control));
        return out;
    }

    private static String whyNoTest(VariantStats variant, VariantStats control) {
        long a = variant.feedback().count();
        long b = control.feedback().count();
        if (a < 2 || b < 2) {
            return "too little data: the test needs at least 2 feedback scores per variant (" + variant.variant() + " has "
                    + a + ", " + control.variant() + " has " + b + ")";
        }
        return "no spread: every feedback score is the same within each variant, so the t statistic is undefined";
    }

    private static Double finiteOrNull(double x) {
        return Double.isFinite(x) ? x : null;
    }
}
