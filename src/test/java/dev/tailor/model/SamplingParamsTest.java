package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Validation of sampling parameters and their defaults from a model's generation_config.json. */
class SamplingParamsTest {
    private static final SamplingParams OK = new SamplingParams(0.7, 0.9, 40, 0.05, 1.1, 3L, 32, List.of("\n\n"), Set.of(2));

    private static void assertRejected(String parameter, Supplier<SamplingParams> make) {
        TailorException e = assertThrows(TailorException.class, make::get);
        assertTrue(e.getMessage().contains(parameter), "message should name " + parameter + ": " + e.getMessage());
    }

    @Test
    void validValuesAreAccepted() {
        assertEquals(0.7, OK.temperature());
        assertEquals(0, OK.withTemperature(0).temperature());
        assertEquals(1.0, OK.withTopP(1.0).topP());
        assertEquals(0, OK.withTopK(0).topK());
        assertEquals(1.0, OK.withMinP(1.0).minP());
        assertEquals(0.5, OK.withRepetitionPenalty(0.5).repetitionPenalty());
        assertEquals(1, OK.withMaxTokens(1).maxTokens());
    }

    @Test
    void overridesReplaceOnlyTheGivenValuesAndAreChecked() {
        assertEquals(OK, OK.withOverrides(null, null, null, null, null, null));
        assertEquals(new SamplingParams(0.2, 0.9, 40, 0.05, 1.3, 9L, 32, List.of("\n\n"), Set.of(2)),
                OK.withOverrides(0.2, null, null, null, 1.3, 9L));
        assertRejected("top_k", () -> OK.withOverrides(null, null, -1, null, null, null));
    }

    @Test
    void invalidValuesAreRejectedNamingTheParameter() {
        assertRejected("temperature", () -> OK.withTemperature(-0.1));
        assertRejected("temperature", () -> OK.withTemperature(Double.NaN));
        assertRejected("top_p", () -> OK.withTopP(0));
        assertRejected("top_p", () -> OK.withTopP(1.01));
        assertRejected("top_p", () -> OK.withTopP(Double.NaN));
        assertRejected("top_k", () -> OK.withTopK(-1));
        assertRejected("min_p", () -> OK.withMinP(-0.01));
        assertRejected("min_p", () -> OK.withMinP(1.5));
        assertRejected("min_p", () -> OK.withMinP(Double.NaN));
        assertRejected("repetition_penalty", () -> OK.withRepetitionPenalty(0));
        assertRejected("repetition_penalty", () -> OK.withRepetitionPenalty(-1.2));
        assertRejected("repetition_penalty", () -> OK.withRepetitionPenalty(Double.NaN));
        assertRejected("max_tokens", () -> OK.withMaxTokens(0));
        assertRejected("stop", () -> OK.withStop(List.of("ok", "")));
    }

    @Test
    void listsAreCopied() {
        List<String> stops = new java.util.ArrayList<>(List.of("a"));
        SamplingParams p = OK.withStop(stops);
        stops.add("b");
        assertEquals(List.of("a"), p.stop());
    }

    // ---- generation_config.json ----

    private static final String CONFIG = """
            {"model_type": "llama", "vocab_size": 128, "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 256, "bos_token_id": 1, "eos_token_id": %s}
            """;

    private static SamplingParams fromFiles(Path dir, String configEos, String generationConfig) throws IOException {
        Files.writeString(dir.resolve("config.json"), CONFIG.formatted(configEos));
        if (generationConfig != null) {
            Files.writeString(dir.resolve("generation_config.json"), generationConfig);
        }
        return SamplingParams.fromGenerationConfig(dir, ModelConfig.load(dir));
    }

    @Test
    void samplingGenerationConfigIsReadField(@TempDir Path dir) throws IOException {
        SamplingParams p = fromFiles(dir, "2", """
                {"do_sample": true, "temperature": 0.6, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05,
                 "max_new_tokens": 77, "eos_token_id": [151645, 151643], "bos_token_id": 151643}
                """);
        assertEquals(0.6, p.temperature());
        assertEquals(0.8, p.topP());
        assertEquals(20, p.topK());
        assertEquals(0.0, p.minP());
        assertEquals(1.05, p.repetitionPenalty());
        assertEquals(77, p.maxTokens());
        assertEquals(Set.of(151645, 151643), p.stopTokenIds());
        assertNull(p.seed());
        assertEquals(List.of(), p.stop());
    }

    @Test
    void withoutDoSampleTheConfigIsGreedyButKeepsThePenalty(@TempDir Path dir) throws IOException {
        // transformers ignores temperature/top_p/top_k unless do_sample is true; the penalty applies to greedy too
        SamplingParams p = fromFiles(dir, "2", """
                {"temperature": 0.6, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.3, "eos_token_id": 9}
                """);
        assertEquals(0.0, p.temperature());
        assertEquals(1.0, p.topP());
        assertEquals(0, p.topK());
        assertEquals(1.3, p.repetitionPenalty());
        assertEquals(Set.of(9), p.stopTokenIds());
    }

    @Test
    void doSampleUsesTransformersDefaultsForMissingFields(@TempDir Path dir) throws IOException {
        SamplingParams p = fromFiles(dir, "2", "{\"do_sample\": true}");
        assertEquals(1.0, p.temperature());
        assertEquals(1.0, p.topP());
        assertEquals(50, p.topK()); // GenerationConfig's default top_k
        assertEquals(1.0, p.repetitionPenalty());
        assertEquals(256, p.maxTokens());
    }

    @Test
    void eosFallsBackToConfigJson(@TempDir Path dir) throws IOException {
        SamplingParams p = fromFiles(dir, "[2, 7]", "{\"do_sample\": false, \"max_new_tokens\": 5}");
        assertEquals(Set.of(2, 7), p.stopTokenIds());
        assertEquals(5, p.maxTokens());
    }

    @Test
    void noGenerationConfigMeansGreedyWithConfigEos(@TempDir Path dir) throws IOException {
        SamplingParams p = fromFiles(dir, "127", null);
        assertEquals(0.0, p.temperature());
        assertEquals(Set.of(127), p.stopTokenIds());
        assertEquals(1.0, p.repetitionPenalty());
        assertEquals(256, p.maxTokens());
    }

    @Test
    void theReferenceModelsGenerationConfigsAreRead() {
        Path dir = Path.of("src/test/resources/reference-models/llama-sharded-f32/model");
        SamplingParams p = SamplingParams.fromGenerationConfig(dir, ModelConfig.load(dir));
        assertEquals(new SamplingParams(0.7, 1.0, 20, 0.0, 1.1, null, 64, List.of(), Set.of(2, 7)), p);
    }

    @Test
    void anInvalidValueInTheFileIsRejected(@TempDir Path dir) {
        assertRejected("top_p", () -> {
            try {
                return fromFiles(dir, "2", "{\"do_sample\": true, \"top_p\": 0}");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }
}
