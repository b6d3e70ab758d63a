package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.core.ObjectMappers;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import dev.tailor.Json;
import dev.tailor.model.SamplingParams;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Bodies of /v1/chat/completions: what clients send is read exactly, everything malformed is a 400 naming its field. */
class ChatCompletionRequestTest {
    private static final String MESSAGES = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";

    static ChatCompletionRequest parse(String body) {
        return parse(body, RequestLimits.DEFAULT);
    }

    static ChatCompletionRequest parse(String body, RequestLimits limits) {
        return ChatCompletionRequest.parse(RequestBodies.parseObject(body.getBytes(java.nio.charset.StandardCharsets.UTF_8)), limits);
    }

    @Test
    void aPrettyPrintedRequestWithEveryFieldIsReadExactly() {
        String body = """
                {
                  "model" : "support-v1",
                  "messages" : [
                    { "role" : "developer", "content" : "Route tickets." },
                    { "role" : "user", "content" : [ { "type" : "text", "text" : "My invoice" }, { "type" : "text", "text" : "is wrong" } ] },
                    { "role" : "assistant", "content" : null, "tool_calls" : [ { "id" : "c1", "type" : "function",
                        "function" : { "name" : "lookup", "arguments" : "{}" } } ] },
                    { "role" : "tool", "tool_call_id" : "c1", "content" : "found" }
                  ],
                  "temperature" : 0.7,
                  "top_p" : 0.9,
                  "top_k" : -1,
                  "min_p" : 0.05,
                  "repetition_penalty" : 1.1,
                  "max_completion_tokens" : 64,
                  "max_tokens" : 64,
                  "stop" : [ "\\n\\n", "END" ],
                  "seed" : 42,
                  "n" : 3,
                  "logprobs" : true,
                  "top_logprobs" : 5,
                  "stream" : true,
                  "stream_options" : { "include_usage" : true },
                  "user" : "user-7",
                  "frequency_penalty" : 0,
                  "tools" : [ ],
                  "store" : false,
                  "metadata" : { "team" : "support" }
                }
                """;
        ChatCompletionRequest r = parse(body);
        assertEquals("support-v1", r.model());
        assertEquals(Json.MAPPER.createArrayNode()
                        .add(Json.MAPPER.createObjectNode().put("role", "system").put("content", "Route tickets."))
                        .add(Json.MAPPER.createObjectNode().put("role", "user").put("content", "My invoice\nis wrong")),
                Json.MAPPER.createArrayNode().add(r.messages().get(0)).add(r.messages().get(1)));
        assertTrue(r.messages().get(2).get("content").isNull());
        assertEquals("lookup", r.messages().get(2).at("/tool_calls/0/function/name").asText());
        assertEquals("found", r.messages().get(3).get("content").asText());
        GenerationOptions o = r.options();
        assertEquals(new GenerationOptions(0.7, 0.9, 0, 0.05, 1.1, 64, List.of("\n\n", "END"), 42L, 3, true, true, "user-7"), o);
        assertTrue(r.logprobs());
        assertEquals(5, r.topLogprobs());
    }

    @Test
    void whatTheOfficialJavaClientSendsIsRead() throws Exception {
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("tiny")
                .addSystemMessage("Be brief.").addUserMessage("Hello").temperature(0.2).topP(0.95).maxCompletionTokens(7)
                .stopOfStrings(List.of("###")).seed(-3).n(2).logprobs(true).topLogprobs(20).user("u")
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        JsonNode body = Json.MAPPER.readTree(ObjectMappers.jsonMapper().writeValueAsString(params._body()));
        ((com.fasterxml.jackson.databind.node.ObjectNode) body).put("stream", true); // createStreaming() adds it
        ChatCompletionRequest r = ChatCompletionRequest.parse(body, RequestLimits.DEFAULT);
        assertEquals("tiny", r.model());
        assertEquals(2, r.messages().size());
        assertEquals("Hello", r.messages().get(1).get("content").asText());
        assertEquals(new GenerationOptions(0.2, 0.95, null, null, null, 7, List.of("###"), -3L, 2, true, true, "u"), r.options());
        assertEquals(20, r.topLogprobs());
    }

    @Test
    void defaultsLeaveTheModelsOwnSettings() {
        ChatCompletionRequest r = parse("{\"model\": \"m\", " + MESSAGES + ", \"stop\": \"x\", \"temperature\": null}");
        assertEquals(new GenerationOptions(null, null, null, null, null, null, List.of("x"), null, 1, false, false, null), r.options());
        assertFalse(r.logprobs());
        assertNull(r.topLogprobs());
        SamplingParams defaults = new SamplingParams(0.6, 0.8, 20, 0, 1, null, 256, List.of(), Set.of(2));
        assertEquals(new SamplingParams(0.6, 0.8, 20, 0, 1, null, 9, List.of("x"), Set.of(2)), r.options().sampling(defaults, 9));
        ChatCompletionRequest set = parse("{\"model\": \"m\", " + MESSAGES + ", \"temperature\": 0, \"top_k\": 5, \"seed\": 1}");
        assertEquals(new SamplingParams(0, 0.8, 5, 0, 1, 1L, 3, List.of(), Set.of(2)), set.options().sampling(defaults, 3));
    }

    @Test
    void aKeysTokenCapRefusesLargerBudgetsAndAllowsItsOwn() {
        RequestLimits capped = new RequestLimits(1000, 100, 1);
        assertEquals(100, parse("{\"model\": \"m\", " + MESSAGES + ", \"max_tokens\": 100}", capped).options().maxTokens());
        ApiError e = assertThrows(ApiError.class, () -> parse("{\"model\": \"m\", " + MESSAGES + ", \"max_completion_tokens\": 101}", capped));
        assertEquals("max_completion_tokens", e.param());
        assertEquals("Invalid 'max_completion_tokens': 101 is above this API key's limit of 100 tokens (limits.max_tokens in serve.yaml).",
                e.getMessage());
        assertEquals(100, capped.defaultMaxTokens(500));
        assertEquals(40, capped.defaultMaxTokens(40));
        assertEquals(500, RequestLimits.DEFAULT.defaultMaxTokens(500));
    }

    /** Each malformed body (fields added to a valid one), the param the error names, its code and a piece of its message. */
    static Stream<Arguments> rejections() {
        return Stream.of(
                bad("{" + MESSAGES + "}", "model", "missing_required_parameter", "Missing required parameter: 'model'."),
                bad("{\"model\": 7, " + MESSAGES + "}", "model", "invalid_type", "expected a string, but got an integer"),
                bad("{\"model\": \" \", " + MESSAGES + "}", "model", "invalid_value", "GET /v1/models"),
                bad("{\"model\": \"m\"}", "messages", "missing_required_parameter", "'messages'"),
                bad("{\"model\": \"m\", \"messages\": {}}", "messages", "invalid_type", "expected an array, but got an object"),
                bad("{\"model\": \"m\", \"messages\": []}", "messages", "empty_array", "minimum length 1"),
                bad("{\"model\": \"m\", \"messages\": [\"hi\"]}", "messages[0]", "invalid_type", "expected an object, but got a string"),
                bad("{\"model\": \"m\", \"messages\": [{\"content\": \"hi\"}]}", "messages[0].role", "missing_required_parameter", "role"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", "messages[0].role", "invalid_value", "'robot'"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"weight\": 1}]}", "messages[0].weight", null, "unrecognized key 'weight'"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\"}]}", "messages[0].content", "missing_required_parameter", "content"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content", "invalid_type", "but got an integer"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}",
                        "messages[0].content[0].type", "unsupported_content", "text only"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}", "messages[0].content[0].text",
                        "missing_required_parameter", "text"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"tool\", \"content\": \"r\"}]}", "messages[0].tool_call_id", "missing_required_parameter", "tool_call_id"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": []}]}", "messages[0].tool_calls", null, "only assistant"),
                bad("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"x\", \"name\": 3}]}", "messages[0].name", "invalid_type", "expected a string"),
                bad(with("\"temperature\": \"0.7\""), "temperature", "invalid_type", "Invalid type for 'temperature': expected a decimal, but got a string instead."),
                bad(with("\"temperature\": 2.5"), "temperature", "decimal_above_max_value", "Expected a value <= 2, but got 2.5 instead."),
                bad(with("\"temperature\": -0.1"), "temperature", "decimal_below_min_value", "Expected a value >= 0"),
                bad(with("\"top_p\": 0"), "top_p", "decimal_below_min_value", "Expected a value > 0, but got 0 instead."),
                bad(with("\"top_p\": 1.01"), "top_p", "decimal_above_max_value", "<= 1"),
                bad(with("\"top_k\": -2"), "top_k", "integer_below_min_value", ">= -1"),
                bad(with("\"min_p\": 2"), "min_p", "decimal_above_max_value", "<= 1"),
                bad(with("\"repetition_penalty\": 0"), "repetition_penalty", "decimal_below_min_value", "> 0"),
                bad(with("\"max_tokens\": -5"), "max_tokens", "integer_below_min_value",
                        "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got -5 instead."),
                bad(with("\"max_tokens\": 0"), "max_tokens", "integer_below_min_value", ">= 1"),
                bad(with("\"max_tokens\": 2.5"), "max_tokens", "invalid_type", "expected an integer, but got a decimal"),
                bad(with("\"max_tokens\": \"10\""), "max_tokens", "invalid_type", "but got a string"),
                bad(with("\"max_tokens\": 99999999999"), "max_tokens", "integer_above_max_value", "2147483647"),
                bad(with("\"max_completion_tokens\": -1"), "max_completion_tokens", "integer_below_min_value", ">= 1"),
                bad(with("\"max_completion_tokens\": 10, \"max_tokens\": 20"), "max_tokens", null, "not both with different values"),
                bad(with("\"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]"), "stop", "array_above_max_length", "at most 4"),
                bad(with("\"stop\": \"\""), "stop", "invalid_value", "must not be empty"),
                bad(with("\"stop\": 3"), "stop", "invalid_type", "a string or an array of strings"),
                bad(with("\"stop\": [\"a\", 3]"), "stop[1]", "invalid_type", "expected a string"),
                bad(with("\"seed\": 1.5"), "seed", "invalid_type", "expected an integer"),
                bad(with("\"n\": 0"), "n", "integer_below_min_value", ">= 1"),
                bad(with("\"n\": 129"), "n", "integer_above_max_value", "<= 128"),
                bad(with("\"logprobs\": \"yes\""), "logprobs", "invalid_type", "expected a boolean"),
                bad(with("\"top_logprobs\": 3"), "top_logprobs", null, "requires logprobs to be true"),
                bad(with("\"logprobs\": true, \"top_logprobs\": 21"), "top_logprobs", "integer_above_max_value", "<= 20"),
                bad(with("\"stream\": \"true\""), "stream", "invalid_type", "expected a boolean"),
                bad(with("\"stream_options\": {\"include_usage\": true}"), "stream_options", null, "only allowed when 'stream' is true"),
                bad(with("\"stream\": true, \"stream_options\": {\"include_usage\": 1}"), "stream_options.include_usage", "invalid_type", "boolean"),
                bad(with("\"stream\": true, \"stream_options\": {\"usage\": true}"), "stream_options.usage", null, "Unrecognized request argument supplied: stream_options.usage"),
                bad(with("\"stream\": true, \"stream_options\": true"), "stream_options", "invalid_type", "expected an object"),
                bad(with("\"user\": 12"), "user", "invalid_type", "expected a string"),
                bad(with("\"frobnicate\": 1"), "frobnicate", null, "Unrecognized request argument supplied: frobnicate"),
                bad(with("\"frequency_penalty\": 0.5"), "frequency_penalty", "unsupported_parameter", "not supported by this server"),
                bad(with("\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"), "tools", "unsupported_parameter", "'tools'"),
                bad(with("\"response_format\": {\"type\": \"json_object\"}"), "response_format", "unsupported_parameter", "json_object"),
                bad(with("\"store\": true"), "store", "unsupported_parameter", "'store'"));
    }

    private static String with(String fields) {
        return "{\"model\": \"m\", " + MESSAGES + ", " + fields + "}";
    }

    private static Arguments bad(String body, String param, String code, String message) {
        return Arguments.of(body, param, code, message);
    }

    @ParameterizedTest
    @MethodSource("rejections")
    void malformedBodiesAreRefusedNamingTheField(String body, String param, String code, String message) {
        ApiError e = assertThrows(ApiError.class, () -> parse(body));
        assertEquals(400, e.status());
        assertEquals("invalid_request_error", e.type());
        assertEquals(param, e.param(), e.getMessage());
        assertEquals(code, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void neutralValuesOfUnsupportedFeaturesAreAccepted() {
        ChatCompletionRequest r = parse(with("\"presence_penalty\": 0.0, \"logit_bias\": {}, \"tool_choice\": \"none\","
                + " \"parallel_tool_calls\": true, \"response_format\": {\"type\": \"text\"}, \"service_tier\": \"auto\","
                + " \"safety_identifier\": \"h\", \"modalities\": [\"text\"], \"tools\": null"));
        assertEquals("m", r.model());
    }

    @Test
    void bodiesThatAreNotOneJsonObjectAreRefused() {
        for (String body : new String[] {"", "[1]", "\"text\"", "{\"model\": \"m\"} {}", "{\"model\": ", "{'model': 'm'}", "{\"a\": NaN}"}) {
            ApiError e = assertThrows(ApiError.class, () -> parse(body), body);
            assertEquals(400, e.status(), body);
        }
        ApiError e = assertThrows(ApiError.class, () -> parse("{\"model\": "));
        assertTrue(e.getMessage().startsWith("We could not parse the JSON body of your request: "), e.getMessage());
        assertTrue(e.getMessage().contains("(line 1, column 11)"), e.getMessage());
        byte[] invalidUtf8 = {'{', '"', 'a', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'};
        assertEquals(400, assertThrows(ApiError.class, () -> RequestBodies.parseObject(invalidUtf8)).status());
        String deep = "[".repeat(5000) + "]".repeat(5000);
        assertEquals(400, assertThrows(ApiError.class, () -> RequestBodies.parseObject(deep.getBytes())).status());
    }
}
