package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.core.ObjectMappers;
import com.openai.models.completions.CompletionCreateParams;
import dev.tailor.Json;
import dev.tailor.serve.CompletionRequest.Prompt;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Bodies of the legacy /v1/completions: every prompt form, echo scoring, and a 400 naming the field for the rest. */
class CompletionRequestTest {
    static CompletionRequest parse(String body) {
        return CompletionRequest.parse(RequestBodies.parseObject(body.getBytes(StandardCharsets.UTF_8)), RequestLimits.DEFAULT);
    }

    @Test
    void everyPromptFormIsOnePromptPerEntry() {
        assertEquals(List.of(Prompt.text("Once upon")), parse("{\"model\": \"m\", \"prompt\": \"Once upon\"}").prompts());
        assertEquals(List.of(Prompt.text("a"), Prompt.text("")), parse("{\"model\": \"m\", \"prompt\": [\"a\", \"\"]}").prompts());
        assertEquals(List.of(Prompt.tokens(List.of(39, 315, 0))), parse("{\"model\": \"m\", \"prompt\": [39, 315, 0]}").prompts());
        assertEquals(List.of(Prompt.tokens(List.of(1, 2)), Prompt.tokens(List.of(3))),
                parse("{\"model\": \"m\", \"prompt\": [[1, 2], [3.0]]}").prompts());
    }

    @Test
    void echoWithNoNewTokensScoresThePrompt() {
        CompletionRequest r = parse("""
                {
                  "model": "support-v1",
                  "prompt": "The capital of France is Paris",
                  "max_tokens": 0,
                  "echo": true,
                  "logprobs": 5,
                  "temperature": 0
                }""");
        assertTrue(r.echo());
        assertEquals(0, r.options().maxTokens());
        assertEquals(5, r.logprobs());
        CompletionRequest plain = parse("{\"model\": \"m\", \"prompt\": \"x\", \"logprobs\": 0, \"suffix\": \"\", \"best_of\": 1}");
        assertFalse(plain.echo());
        assertEquals(0, plain.logprobs());
        assertNull(plain.options().maxTokens());
        assertNull(parse("{\"model\": \"m\", \"prompt\": \"x\"}").logprobs());
    }

    @Test
    void whatTheOfficialJavaClientSendsIsRead() throws Exception {
        CompletionCreateParams params = CompletionCreateParams.builder().model("tiny")
                .promptOfArrayOfTokenArrays(List.of(List.of(5L, 6L), List.of(7L))).maxTokens(0).echo(true).logprobs(2)
                .n(3).seed(9).stopOfStrings(List.of(".", "!")).build();
        JsonNode body = Json.MAPPER.readTree(ObjectMappers.jsonMapper().writeValueAsString(params._body()));
        CompletionRequest r = CompletionRequest.parse(body, RequestLimits.DEFAULT);
        assertEquals(List.of(Prompt.tokens(List.of(5, 6)), Prompt.tokens(List.of(7))), r.prompts());
        assertEquals(new GenerationOptions(null, null, null, null, null, 0, List.of(".", "!"), 9L, 3, false, false, null), r.options());
        assertEquals(2, r.logprobs());
        assertTrue(r.echo());
    }

    static Stream<Arguments> rejections() {
        return Stream.of(
                bad("{\"model\": \"m\"}", "prompt", "missing_required_parameter", "'prompt'"),
                bad("{\"model\": \"m\", \"prompt\": 5}", "prompt", "invalid_type", "but got an integer"),
                bad("{\"model\": \"m\", \"prompt\": []}", "prompt", "empty_array", "at least one prompt"),
                bad("{\"model\": \"m\", \"prompt\": [\"a\", 5]}", "prompt[1]", "invalid_type", "a string (like prompt[0])"),
                bad("{\"model\": \"m\", \"prompt\": [[1], \"a\"]}", "prompt[1]", "invalid_type", "an array of token ids"),
                bad("{\"model\": \"m\", \"prompt\": [[1], []]}", "prompt[1]", "empty_array", "empty token list"),
                bad("{\"model\": \"m\", \"prompt\": [1, -2]}", "prompt[1]", "integer_below_min_value", ">= 0, but got -2"),
                bad("{\"model\": \"m\", \"prompt\": [1, 2.5]}", "prompt[1]", "invalid_type", "expected an integer, but got a decimal"),
                bad("{\"model\": \"m\", \"prompt\": [[1, \"2\"]]}", "prompt[0][1]", "invalid_type", "but got a string"),
                bad("{\"prompt\": \"x\"}", "model", "missing_required_parameter", "'model'"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"max_tokens\": 0}", "max_tokens", "integer_below_min_value", "only with echo"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"max_tokens\": -1, \"echo\": true}", "max_tokens", "integer_below_min_value", ">= 0"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"echo\": \"yes\"}", "echo", "invalid_type", "boolean"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"logprobs\": true}", "logprobs", "invalid_type", "expected an integer, but got a boolean"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"logprobs\": 21}", "logprobs", "integer_above_max_value", "<= 20"),
                bad("{\"model\": \"m\", \"prompt\": [\"a\", \"b\", \"c\"], \"n\": 50}", "n", "integer_above_max_value", "150 choices; at most 128"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"suffix\": \"end\"}", "suffix", "unsupported_parameter", "'suffix'"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"best_of\": 2}", "best_of", "unsupported_parameter", "'best_of'"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"messages\": []}", "messages", null, "Unrecognized request argument supplied: messages"),
                bad("{\"model\": \"m\", \"prompt\": \"x\", \"max_completion_tokens\": 5}", "max_completion_tokens", null, "Unrecognized"));
    }

    private static Arguments bad(String body, String param, String code, String message) {
        return Arguments.of(body, param, code, message);
    }

    @ParameterizedTest
    @MethodSource("rejections")
    void malformedBodiesAreRefusedNamingTheField(String body, String param, String code, String message) {
        ApiError e = assertThrows(ApiError.class, () -> parse(body));
        assertEquals(400, e.status());
        assertEquals(param, e.param(), e.getMessage());
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void aKeysTokenCapAppliesHereToo() {
        ApiError e = assertThrows(ApiError.class, () -> CompletionRequest.parse(
                RequestBodies.parseObject("{\"model\": \"m\", \"prompt\": \"x\", \"max_tokens\": 17}".getBytes(StandardCharsets.UTF_8)),
                new RequestLimits(1000, 16, 1)));
        assertEquals("max_tokens", e.param());
        assertTrue(e.getMessage().contains("limit of 16 tokens"), e.getMessage());
    }
}
