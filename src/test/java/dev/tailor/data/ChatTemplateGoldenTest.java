package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Renders every case of chat-templates/cases.json and compares it byte for byte with what Python
 * Jinja2, set up as transformers sets it up, rendered (src/test/python/render_chat_templates.py).
 */
class ChatTemplateGoldenTest {
    private static final JsonNode MANIFEST = Json.MAPPER.valueToTree(fixture("cases.json", new TypeReference<Map<String, Object>>() {}));

    static Stream<String> cases() {
        return StreamSupport.stream(MANIFEST.get("cases").spliterator(), false).map(c -> c.get("name").asText());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersAsTransformersDoes(String name) {
        JsonNode testCase = StreamSupport.stream(MANIFEST.get("cases").spliterator(), false)
                .filter(c -> c.get("name").asText().equals(name)).findFirst().orElseThrow();
        JsonNode template = MANIFEST.get("templates").get(testCase.get("template").asText());
        ChatTemplate chatTemplate = ChatTemplate.of(resource(template.get("resource").asText()),
                        Json.MAPPER.convertValue(template.get("special_tokens"), new TypeReference<Map<String, Object>>() {}))
                .withClock(fixedNow());
        List<Map<String, Object>> messages = fixture(testCase.get("messages").asText(), new TypeReference<>() {});
        List<Map<String, Object>> tools = testCase.has("tools")
                ? fixture(testCase.get("tools").asText(), new TypeReference<>() {}) : null;
        Map<String, Object> variables = new HashMap<>(Json.MAPPER.convertValue(
                testCase.has("variables") ? testCase.get("variables") : Json.MAPPER.createObjectNode(),
                new TypeReference<Map<String, Object>>() {}));
        if (testCase.has("documents")) {
            variables.put("documents", fixture(testCase.get("documents").asText(), new TypeReference<List<Object>>() {}));
        }
        boolean addGenerationPrompt = testCase.get("add_generation_prompt").asBoolean();

        if (testCase.path("raises").asBoolean()) {
            TailorException e = assertThrows(TailorException.class,
                    () -> chatTemplate.render(messages, tools, addGenerationPrompt, variables));
            assertEquals("chat template: " + expected(name + ".error.txt"), e.getMessage());
        } else {
            assertEquals(expected(name + ".txt"), chatTemplate.render(messages, tools, addGenerationPrompt, variables));
        }
    }

    /** The date the goldens were rendered at ("now" of cases.json), as a UTC clock. */
    static Clock fixedNow() {
        return Clock.fixed(LocalDateTime.parse(MANIFEST.get("now").asText()).toInstant(ZoneOffset.UTC), ZoneOffset.UTC);
    }

    static String expected(String file) {
        return resource("chat-templates/expected/" + file);
    }

    /** A JSON file under chat-templates/, as Jackson parses it. */
    static <T> T fixture(String path, TypeReference<T> type) {
        try {
            return Json.MAPPER.readValue(resource("chat-templates/" + path), type);
        } catch (IOException e) {
            throw new IllegalStateException(path, e);
        }
    }

    /** A classpath resource: test resources, or main ones such as dev/tailor/data/chatml.jinja. */
    static String resource(String path) {
        try (InputStream in = ChatTemplateGoldenTest.class.getResourceAsStream("/" + path)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + path + " (run src/test/python/render_chat_templates.py)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(path, e);
        }
    }
}
