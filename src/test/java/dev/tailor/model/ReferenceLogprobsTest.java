package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.JsonArrays;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Logprobs and greedy continuations against an independent float64 NumPy implementation of the
 * transformers math (src/test/python/reference_model.py), one case per architecture feature.
 */
class ReferenceLogprobsTest {
    static final Path CASES = Path.of("src/test/resources/reference-models");

    @BeforeAll
    static void threads() {
        Engine.ensureConfigured();
    }

    static Stream<String> cases() throws IOException {
        try (Stream<Path> dirs = Files.list(CASES)) {
            return dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void logprobsMatchFloat64Reference(String name) {
        Path dir = CASES.resolve(name);
        JsonNode expected = Json.readTree(dir.resolve("expected.json"));
        double tolerance = expected.get("tolerance").asDouble();
        try (Model model = Model.load(dir.resolve("model"), Device.CPU, null);
             Adapter adapter = expected.get("adapter").asBoolean() ? Adapter.load(dir.resolve("adapter"), model) : null) {
            if (adapter != null) {
                model.attach(adapter);
            }
            for (JsonNode seq : expected.get("sequences")) {
                int[] ids = JsonArrays.ints(seq.get("token_ids"));
                double[] want = JsonArrays.doubles(seq.get("logprobs"));
                double[] got = model.logprobs(ids);
                assertEquals(want.length, got.length);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], tolerance, name + " logprob " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void greedyDecodingWithCacheMatchesReference(String name) {
        Path dir = CASES.resolve(name);
        JsonNode expected = Json.readTree(dir.resolve("expected.json"));
        try (Model model = Model.load(dir.resolve("model"), Device.CPU, null);
             Adapter adapter = expected.get("adapter").asBoolean() ? Adapter.load(dir.resolve("adapter"), model) : null) {
            if (adapter != null) {
                model.attach(adapter);
            }
            JsonNode greedy = expected.get("greedy");
            List<int[]> prompts = new java.util.ArrayList<>();
            for (JsonNode g : greedy) {
                prompts.add(JsonArrays.ints(g.get("prompt")));
            }
            // both prompts in one batch: different lengths exercise left padding and per-row positions
            List<Completion> got = new Generator(model, null).generate(prompts, SamplingParams.greedy(8, Set.of()), null);
            for (int i = 0; i < prompts.size(); i++) {
                int[] want = JsonArrays.ints(greedy.get(i).get("continuation"));
                assertTrue(want.length > 0, name + ": reference continuation is empty");
                assertArrayEquals(want, java.util.Arrays.copyOf(got.get(i).tokenIds(), want.length), name + " prompt " + i);
            }
        }
    }

}
