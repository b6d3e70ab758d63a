package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Parsing, validation, sticky assignment, split ratios, ramp and stop of A/B experiments. */
class ExperimentTest {
    private static final Instant NOW = Instant.parse("2026-11-20T12:00:00Z");
    private static final int USERS = 100_000;

    private static final String NINETY_TEN = """
            name: support-ab
            variants:
              - {name: base, target: base, weight: 90}
              - {name: tuned, target: support-v1, weight: 10}
            """;

    private static Experiment parse(String yaml) {
        return Experiment.parse(yaml, "serve.yaml: experiments[0]");
    }

    /** Counts per variant over USERS distinct users at {@code at}. */
    private static Map<String, Integer> split(Experiment e, Instant at) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < USERS; i++) {
            counts.merge(e.assign("user-" + i, at).name(), 1, Integer::sum);
        }
        return counts;
    }

    /** The count is within 5 binomial standard deviations of USERS * share. */
    private static void assertShare(double share, int count, String variant) {
        double sigma = Math.sqrt(USERS * share * (1 - share));
        assertTrue(Math.abs(count - USERS * share) <= 5 * sigma,
                variant + ": " + count + " of " + USERS + ", expected " + USERS * share + " +- " + 5 * sigma);
    }

    @Test
    void sameUserGetsTheSameVariantAsAnIndependentImplementationComputes() {
        JsonNode golden = Json.readTree(Path.of("src/test/resources/experiments/assignment-golden.json"));
        Experiment first = parse(NINETY_TEN);
        Experiment reloaded = Experiment.fromJson(Json.MAPPER.valueToTree(first.toJson()), "reloaded"); // a restart
        int tuned = 0;
        for (JsonNode row : golden.get("users")) {
            String user = row.get("user").asText();
            assertEquals(row.get("position").asDouble(), Experiment.position("support-ab", user), 0.0, user);
            String expected = row.get("variant").asText();
            for (int repeat = 0; repeat < 3; repeat++) {
                assertEquals(expected, first.assign(user, NOW).name(), user);
                assertEquals(expected, reloaded.assign(user, NOW).name(), user);
            }
            tuned += expected.equals("tuned") ? 1 : 0;
        }
        assertTrue(tuned > 0, "the golden users must cover both variants");
    }

    @Test
    void ninetyTenSplitOverManyUsers() {
        Map<String, Integer> counts = split(parse(NINETY_TEN), NOW);
        assertShare(0.9, counts.get("base"), "base");
        assertShare(0.1, counts.get("tuned"), "tuned");
    }

    @Test
    void threeWaySplitWithRelativeWeights() {
        Experiment e = parse("""
                name: three
                variants:
                  - {name: a, target: base, weight: 0.5}
                  - {name: b, target: one, weight: 0.3}
                  - {name: c, target: base, weight: 0.2, system_prompt: Be brief.}
                """);
        Map<String, Integer> counts = split(e, NOW);
        assertShare(0.5, counts.get("a"), "a");
        assertShare(0.3, counts.get("b"), "b");
        assertShare(0.2, counts.get("c"), "c");
        assertEquals(Map.of("a", 0.5, "b", 0.3, "c", 0.2).keySet(), e.shares(NOW).keySet());
        assertEquals(0.3, e.shares(NOW).get("b"), 1e-12);
    }

    @Test
    void requestsWithoutUserAreSplitAtRandomNotStickily() {
        Experiment e = parse(NINETY_TEN);
        int tuned = 0;
        for (int i = 0; i < USERS; i++) {
            tuned += e.assign(i % 2 == 0 ? null : "", NOW).name().equals("tuned") ? 1 : 0;
        }
        assertShare(0.1, tuned, "tuned");
    }

    @Test
    void rampGrowsTheTreatmentLinearlyAndUsersOnlyEverMoveOnceFromControl() {
        Experiment full = parse("""
                name: ramped
                control: base
                variants:
                  - {name: t1, target: a1, weight: 20}
                  - {name: base, target: base, weight: 60}
                  - {name: t2, target: a2, weight: 20}
                """);
        Experiment ramped = parse("""
                name: ramped
                control: base
                variants:
                  - {name: t1, target: a1, weight: 20}
                  - {name: base, target: base, weight: 60}
                  - {name: t2, target: a2, weight: 20}
                ramp: {start: "2026-11-20T00:00:00Z", duration: 10h}
                """);
        Instant start = Instant.parse("2026-11-20T00:00:00Z");
        assertEquals(Duration.ofHours(10), ramped.ramp().duration());
        Map<String, Integer> before = split(ramped, start.minusSeconds(1));
        assertEquals(Map.of("base", USERS), before, "nothing leaves the control before the ramp starts");
        assertEquals("ramping", ramped.status(start.plusSeconds(60)));

        Instant quarter = start.plus(Duration.ofMinutes(150));
        Map<String, Integer> atQuarter = split(ramped, quarter);
        assertShare(0.05, atQuarter.get("t1"), "t1 at 25%");
        assertShare(0.05, atQuarter.get("t2"), "t2 at 25%");
        assertEquals(0.05, ramped.shares(quarter).get("t1"), 1e-12);
        assertEquals(0.9, ramped.shares(quarter).get("base"), 1e-12);

        Instant[] times = {start, quarter, start.plus(Duration.ofHours(5)), start.plus(Duration.ofHours(9)),
            start.plus(Duration.ofHours(10)), start.plus(Duration.ofDays(3))};
        for (int i = 0; i < USERS; i++) {
            String user = "user-" + i;
            String previous = "base";
            for (Instant t : times) {
                String now = ramped.assign(user, t).name();
                assertTrue(now.equals(previous) || previous.equals("base"),
                        user + " moved from " + previous + " to " + now + " at " + t);
                previous = now;
            }
            assertEquals(full.assign(user, NOW).name(), previous, user + ": a finished ramp is the plain split");
        }
        assertEquals("running", ramped.status(start.plus(Duration.ofHours(10))));
    }

    @Test
    void aStoppedExperimentSendsEveryoneToTheWinner() {
        Experiment running = parse(NINETY_TEN);
        Experiment stopped = running.stop("tuned");
        assertEquals("stopped", stopped.status(NOW));
        assertEquals(Map.of("tuned", USERS), split(stopped, NOW));
        assertEquals(Map.of("base", 0.0, "tuned", 1.0), stopped.shares(NOW));
        assertEquals("running", running.status(NOW), "stop returns a new experiment");
        assertEquals(Map.of("tuned", USERS), split(parse(NINETY_TEN + "winner: tuned\n"), NOW));
        TailorException e = assertThrows(TailorException.class, () -> running.stop("other"));
        assertTrue(e.getMessage().contains("no variant 'other'") && e.getMessage().contains("base, tuned"), e.getMessage());
    }

    @Test
    void theJsonShapeRoundTrips() {
        Experiment e = parse("""
                name: support-ab
                control: tuned
                variants:
                  - {name: base, target: base, weight: 90}
                  - {name: tuned, target: "ft:qwen:acme:support:abc123", weight: 10, system_prompt: "Answer with the team."}
                ramp: {start: "2026-11-20T09:00:00Z", duration: PT48H}
                winner: base
                """);
        Map<String, Object> json = e.toJson();
        Experiment again = Experiment.fromJson(Json.MAPPER.valueToTree(json), "again");
        assertEquals(json, again.toJson());
        assertEquals("tuned", again.control().name());
        assertEquals("base", again.winner().name());
        assertEquals(Instant.parse("2026-11-20T09:00:00Z"), again.ramp().start());
        assertEquals("Answer with the team.", again.variant("tuned").systemPrompt());
        assertEquals(Json.readTree(Path.of("src/test/resources/experiments/experiment.json")), Json.MAPPER.valueToTree(json));
    }

    @Test
    void invalidExperimentsAreRefusedWithOneLineNamingTheField() {
        String prefix = "serve.yaml: experiments[0]: ";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("variants: []\nname: x", "variants: give a list of at least one variant");
        cases.put("name: x", "variants: give a list");
        cases.put("variants: [{name: a, target: base, weight: 1}]", "name: missing");
        cases.put("name: 'a b'\nvariants: [{name: a, target: base, weight: 1}]", "name: 'a b' must be");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 0}]", "variants[0].weight: must be a number > 0");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: -3}]", "variants[0].weight: must be a number > 0");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: '90'}]", "variants[0].weight: must be a number > 0");
        cases.put("name: x\nvariants: [{name: a, target: base}]", "variants[0].weight: must be a number > 0 (a relative share such as 90 or 0.1), got nothing");
        cases.put("name: x\nvariants: [{name: a, weight: 1}]", "variants[0].target: name the model");
        cases.put("name: x\nvariants: [{name: a, target: ' ', weight: 1}]", "variants[0].target: name the model");
        cases.put("name: x\nvariants: [{target: base, weight: 1}]", "variants[0].name: missing");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1}, {name: a, target: t, weight: 1}]",
                "variants[1].name: 'a' is used twice");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1, wieght: 2}]", "variants[0].wieght: unknown key");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1, system_prompt: ''}]", "variants[0].system_prompt: must be a non-empty string");
        cases.put("name: x\ncontrol: b\nvariants: [{name: a, target: base, weight: 1}]", "control: 'b' is not one of the variants (a)");
        cases.put("name: x\nwinner: b\nvariants: [{name: a, target: base, weight: 1}]", "winner: 'b' is not one of the variants");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1}]\nramp: {start: yesterday, duration: 1h}", "ramp.start: 'yesterday' is not an ISO-8601");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1}]\nramp: {start: '2026-11-20T00:00:00Z', duration: 0h}", "ramp.duration: '0h' is not a positive duration");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1}]\nramp: {start: '2026-11-20T00:00:00Z'}", "ramp.duration: missing");
        cases.put("name: x\nvariants: [{name: a, target: base, weight: 1}]\nsplit: 5", "split: unknown key");
        cases.put("- just a list", "the experiment: must be an object");
        cases.put("name: [unclosed", "not valid YAML or JSON at line");
        cases.forEach((yaml, expected) -> {
            TailorException e = assertThrows(TailorException.class, () -> parse(yaml), yaml);
            assertTrue(e.getMessage().startsWith(prefix) || expected.startsWith("not valid"), e.getMessage());
            assertTrue(e.getMessage().contains(expected), "'" + e.getMessage() + "' should contain '" + expected + "'");
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        });
    }

    @Test
    void targetsMustBeServedAndTheNameFree() {
        Experiment e = parse(NINETY_TEN);
        e.checkTargets(List.of("base", "support-v1", "other"));
        TailorException missing = assertThrows(TailorException.class, () -> e.checkTargets(List.of("base")));
        assertTrue(missing.getMessage().contains("variant 'tuned': target 'support-v1' is not served"), missing.getMessage());
        TailorException clash = assertThrows(TailorException.class, () -> e.checkTargets(List.of("base", "support-v1", "support-ab")));
        assertTrue(clash.getMessage().contains("already a model's"), clash.getMessage());
    }

    @Test
    void aPromptVariantSetsTheSystemMessage() throws Exception {
        Variant plain = new Variant("a", "base", null, 1);
        Variant prompted = new Variant("b", "base", "Be brief.", 1);
        ArrayNode withSystem = (ArrayNode) Json.MAPPER.readTree("""
                [{"role": "system", "content": "Be verbose."}, {"role": "user", "content": "Hi"}]""");
        ArrayNode withoutSystem = (ArrayNode) Json.MAPPER.readTree("""
                [{"role": "user", "content": "Hi"}]""");
        assertSame(withSystem, plain.applySystemPrompt(withSystem));
        assertEquals(Json.MAPPER.readTree("""
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]"""),
                prompted.applySystemPrompt(withSystem));
        assertEquals(Json.MAPPER.readTree("""
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]"""),
                prompted.applySystemPrompt(withoutSystem));
        assertEquals("Be verbose.", withSystem.get(0).get("content").asText(), "the request's messages stay as they were");
        assertNotEquals(withoutSystem.size(), prompted.applySystemPrompt(withoutSystem).size());
    }
}
