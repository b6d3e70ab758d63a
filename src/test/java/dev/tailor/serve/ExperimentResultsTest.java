package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Experiment results from a real request log, against statistics computed independently
 * (src/test/python/make_experiment_stats_golden.py: numpy, and the t distribution by quadrature).
 */
class ExperimentResultsTest {
    private static final Instant NOW = Instant.parse("2026-11-21T00:00:00Z");
    private static final double TOLERANCE = 1e-9;

    @TempDir
    Path dir;

    private static LoggedRequest served(String id, String experiment, String variant, double latencyMs, Double ttftMs,
                                        int completionTokens, LoggedRequest.Status status) {
        return new LoggedRequest(id, NOW.minusSeconds(60), null, experiment, "base", experiment, variant, "u-" + id,
                "[]", "answer", latencyMs, ttftMs, 10, completionTokens, status);
    }

    private static Experiment experiment(String name, Iterable<String> variantNames) {
        StringBuilder yaml = new StringBuilder("name: " + name + "\nvariants:\n");
        variantNames.forEach(v -> yaml.append("  - {name: ").append(v).append(", target: base, weight: 1}\n"));
        return Experiment.parse(yaml.toString(), "test");
    }

    /** The results as a client reads them: serialized and parsed again. */
    private static JsonNode json(ExperimentResults results) {
        try {
            return Json.MAPPER.readTree(Json.compact(results.toJson()));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void assertClose(double expected, JsonNode actual, String what) {
        assertEquals(expected, actual.asDouble(), TOLERANCE * Math.max(1, Math.abs(expected)), what);
    }

    @Test
    void feedbackMeansIntervalsAndWelchTestsMatchTheIndependentComputation() {
        JsonNode golden = Json.readTree(Path.of("src/test/resources/experiments/stats-golden.json"));
        Path file = dir.resolve("requests.db");
        List<Map<String, Object>> before = new ArrayList<>();
        List<Experiment> experiments = new ArrayList<>();
        try (RequestLog log = RequestLog.open(file)) {
            for (JsonNode c : golden.get("cases")) {
                String name = c.get("name").asText();
                List<String> variants = new ArrayList<>();
                c.get("scores").fieldNames().forEachRemaining(variants::add);
                Experiment e = experiment(name, variants);
                experiments.add(e);
                Map<String, Double> scores = new java.util.LinkedHashMap<>();
                for (String v : variants) {
                    for (JsonNode score : c.get("scores").get(v)) {
                        String responseId = name + "-" + scores.size();
                        log.log(served(responseId, name, v, 100, 10.0, 5, LoggedRequest.Status.OK));
                        scores.put(responseId, score.asDouble());
                    }
                }
                scores.forEach((responseId, score) -> log.feedback(name, new Feedback(responseId, score)));
                JsonNode results = json(ExperimentResults.compute(e, log, NOW));
                for (JsonNode variant : results.get("variants")) {
                    String v = variant.get("name").asText();
                    JsonNode expected = c.get("expected").get(v);
                    JsonNode feedback = variant.get("feedback");
                    assertEquals(expected.get("count").asLong(), feedback.get("count").asLong(), name + " " + v);
                    assertEquals(expected.get("count").asLong(), variant.get("requests").asLong(), name + " " + v);
                    assertClose(expected.get("mean").asDouble(), feedback.get("mean"), name + " " + v + " mean");
                    assertClose(expected.get("std_dev").asDouble(), feedback.get("std_dev"), name + " " + v + " std_dev");
                    assertClose(expected.get("ci95").get(0).asDouble(), feedback.get("ci95").get(0), name + " " + v + " ci low");
                    assertClose(expected.get("ci95").get(1).asDouble(), feedback.get("ci95").get(1), name + " " + v + " ci high");
                }
                assertEquals(c.get("comparisons").size(), results.get("comparisons").size());
                for (JsonNode comparison : results.get("comparisons")) {
                    String v = comparison.get("variant").asText();
                    JsonNode expected = c.get("comparisons").get(v);
                    assertEquals(c.get("control").asText(), comparison.get("control").asText());
                    for (String key : List.of("difference", "t", "df", "p_value")) {
                        assertClose(expected.get(key).asDouble(), comparison.get(key), name + " " + v + " " + key);
                    }
                    assertEquals(expected.get("p_value").asDouble() < 0.05, comparison.get("significant").asBoolean());
                    assertTrue(comparison.get("note").isNull());
                }
                before.add(ExperimentResults.compute(e, log, NOW).toJson());
            }
        }
        assertTrue(golden.toString().contains("\"thumbs\""), "the golden cases include thumbs (0/1) scores");
        try (RequestLog restarted = RequestLog.open(file)) {
            for (int i = 0; i < experiments.size(); i++) {
                assertEquals(before.get(i), ExperimentResults.compute(experiments.get(i), restarted, NOW).toJson(),
                        "results survive a restart");
            }
        }
    }

    @Test
    void trafficLatencyAndTokensPerVariantByHand() {
        Experiment e = Experiment.parse("""
                name: ab
                control: base
                variants:
                  - {name: tuned, target: support-v1, weight: 10}
                  - {name: base, target: base, weight: 90}
                """, "test");
        try (RequestLog log = RequestLog.open(dir.resolve("requests.db"))) {
            log.log(served("1", "ab", "base", 100, 10.0, 4, LoggedRequest.Status.OK));
            log.log(served("2", "ab", "base", 200, 30.0, 6, LoggedRequest.Status.OK));
            log.log(served("3", "ab", "base", 300, 20.0, 11, LoggedRequest.Status.OK));
            log.log(served("4", "ab", "base", 5000, null, 0, LoggedRequest.Status.ERROR));
            log.log(served("5", "ab", "tuned", 50, 5.0, 2, LoggedRequest.Status.OK));
            log.log(served("6", "ab", "retired", 70, 7.0, 3, LoggedRequest.Status.OK));
            log.log(served("7", "other", "base", 999, 9.0, 9, LoggedRequest.Status.OK));
            log.flush();
            log.feedback("5", 1);
            JsonNode results = json(ExperimentResults.compute(e, log, NOW));

            assertEquals("experiment.results", results.get("object").asText());
            assertEquals("running", results.get("status").asText());
            assertEquals("base", results.get("control").asText());
            assertTrue(results.get("winner").isNull());
            assertEquals(0.95, results.get("confidence_level").asDouble());
            JsonNode base = results.get("variants").get(0);
            assertEquals("base", base.get("name").asText(), "the control comes first");
            assertEquals(4, base.get("requests").asLong());
            assertEquals(1, base.get("errors").asLong());
            assertEquals(200.0, base.get("mean_latency_ms").asDouble(), 1e-12, "(100 + 200 + 300) / 3: errors are left out");
            assertEquals(20.0, base.get("mean_time_to_first_token_ms").asDouble(), 1e-12);
            assertEquals(7.0, base.get("mean_completion_tokens").asDouble(), 1e-12);
            assertEquals(10.0, base.get("mean_prompt_tokens").asDouble(), 1e-12);
            assertEquals(0.9, base.get("current_share").asDouble(), 1e-12);
            assertEquals(0, base.get("feedback").get("count").asLong());
            assertTrue(base.get("feedback").get("mean").isNull());
            assertTrue(base.get("feedback").get("ci95").isNull());

            JsonNode tuned = results.get("variants").get(1);
            assertEquals("tuned", tuned.get("name").asText());
            assertEquals("support-v1", tuned.get("target").asText());
            assertEquals(1, tuned.get("feedback").get("count").asLong());
            assertEquals(1.0, tuned.get("feedback").get("mean").asDouble());
            assertTrue(tuned.get("feedback").get("std_dev").isNull(), "one score has no spread estimate");

            JsonNode retired = results.get("variants").get(2);
            assertEquals("retired", retired.get("name").asText(), "a variant only the log knows comes last");
            assertTrue(retired.get("target").isNull());
            assertEquals(0.0, retired.get("current_share").asDouble());
            assertEquals(3, results.get("variants").size(), "experiment 'other' is not mixed in");

            JsonNode comparison = results.get("comparisons").get(0);
            assertEquals("tuned", comparison.get("variant").asText());
            assertTrue(comparison.get("p_value").isNull());
            assertTrue(comparison.get("significant").isNull());
            assertEquals("too little data: the test needs at least 2 feedback scores per variant (tuned has 1, base has 0)",
                    comparison.get("note").asText());
        }
    }

    @Test
    void identicalScoresWithinEachVariantHaveNoTest() {
        Experiment e = experiment("same", List.of("a", "b"));
        try (RequestLog log = RequestLog.open(dir.resolve("requests.db"))) {
            for (int i = 0; i < 6; i++) {
                String variant = i < 3 ? "a" : "b";
                log.log(served("r" + i, "same", variant, 1, 1.0, 1, LoggedRequest.Status.OK));
                log.feedback("r" + i, variant.equals("a") ? 0 : 1);
            }
            JsonNode results = json(ExperimentResults.compute(e, log, NOW));
            JsonNode a = results.get("variants").get(0).get("feedback");
            assertEquals(0.0, a.get("std_dev").asDouble());
            assertEquals(0.0, a.get("ci95").get(0).asDouble());
            assertEquals(0.0, a.get("ci95").get(1).asDouble());
            JsonNode comparison = results.get("comparisons").get(0);
            assertNull(comparison.get("t").numberValue());
            assertTrue(comparison.get("note").asText().startsWith("no spread"), comparison.get("note").asText());
        }
    }

    @Test
    void aStoppedExperimentReportsItsWinner() {
        Experiment e = experiment("stop", List.of("a", "b")).stop("b");
        try (RequestLog log = RequestLog.open(dir.resolve("requests.db"))) {
            JsonNode results = json(ExperimentResults.compute(e, log, NOW));
            assertEquals("stopped", results.get("status").asText());
            assertEquals("b", results.get("winner").asText());
            Iterator<JsonNode> variants = results.get("variants").elements();
            assertEquals(0.0, variants.next().get("current_share").asDouble());
            assertEquals(1.0, variants.next().get("current_share").asDouble());
            assertEquals(0, results.get("variants").get(0).get("requests").asLong());
        }
    }
}
