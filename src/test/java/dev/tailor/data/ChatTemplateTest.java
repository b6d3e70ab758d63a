package dev.tailor.data;

import static dev.tailor.data.ChatTemplateGoldenTest.expected;
import static dev.tailor.data.ChatTemplateGoldenTest.fixture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.tailor.TailorException;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {
    private static final List<Map<String, Object>> HELLO = List.of(Map.of("role", "user", "content", "hi"));

    @TempDir
    Path dir;

    @Test
    void raiseExceptionFailsWithTheTemplatesMessage() {
        ChatTemplate template = ChatTemplate.of("before {% if messages[0].role != 'system' %}"
                + "{{ raise_exception('Conversations must start with a system message') }}{% endif %} after", Map.of());

        TailorException e = assertThrows(TailorException.class, () -> template.render(HELLO, null, false, Map.of()));

        assertEquals("chat template: Conversations must start with a system message", e.getMessage());
    }

    @Test
    void syntaxErrorNamesTheTemplateFileAndLine() throws IOException {
        Path file = Files.writeString(dir.resolve("broken.jinja"), "{{ bos_token }}\n{% for m in messages %}\n{% if %}\n");

        TailorException e = assertThrows(TailorException.class,
                () -> ChatTemplate.fromFile(file, Map.of()).render(HELLO, null, true, Map.of()));

        assertTrue(e.getMessage().startsWith(file + ", line 3: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void unknownFilterFailsAsInJinja2InsteadOfRenderingNothing() {
        ChatTemplate template = ChatTemplate.of("{{ messages | no_such_filter }}", Map.of());

        TailorException e = assertThrows(TailorException.class, () -> template.render(HELLO, null, true, Map.of()));

        assertTrue(e.getMessage().contains("No filter named 'no_such_filter'"), e.getMessage());
    }

    @Test
    void modelDirWithAddedTokenDictsAndNamedTemplatesUsesTheDefaultOne() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {
                  "bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>", "lstrip": false},
                  "eos_token": {"__type": "AddedToken", "content": "<｜end▁of▁sentence｜>", "lstrip": false},
                  "pad_token": null,
                  "chat_template": [
                    {"name": "tool_use", "template": "tools: {{ tools }}"},
                    {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content + eos_token }}{% endfor %}"}
                  ]
                }
                """);

        ChatTemplate template = ChatTemplate.fromModelDir(dir);
        String rendered = template.render(HELLO, null, false, Map.of());

        assertEquals("<｜begin▁of▁sentence｜>hi<｜end▁of▁sentence｜>", rendered);
        assertEquals(Optional.of("<｜begin▁of▁sentence｜>"), template.bosToken());
        assertEquals(Optional.of("<｜end▁of▁sentence｜>"), template.eosToken());
        assertEquals(Optional.empty(), template.padToken());
        assertTrue(template.rendersBos(rendered));
    }

    @Test
    void chatTemplateJinjaTakesPrecedenceOverTokenizerConfig() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"eos_token": "</s>", "chat_template": "from tokenizer_config.json"}
                """);
        Files.writeString(dir.resolve("chat_template.jinja"), "from chat_template.jinja {{ eos_token }}\n");

        assertEquals("from chat_template.jinja </s>", ChatTemplate.fromModelDir(dir).render(HELLO, null, false, Map.of()));
    }

    @Test
    void modelDirWithoutTemplateNamesTheDirectoryAndTheFix() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");

        TailorException e = assertThrows(TailorException.class, () -> ChatTemplate.fromModelDir(dir));

        assertTrue(e.getMessage().startsWith(dir.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("add chat_template.jinja or pass --template"), e.getMessage());
    }

    @Test
    void namedTemplatesWithoutDefaultAreRejected() throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": [{"name": "tool_use", "template": "x"}]}
                """);

        TailorException e = assertThrows(TailorException.class, () -> ChatTemplate.fromModelDir(dir));

        assertTrue(e.getMessage().contains("\"default\""), e.getMessage());
    }

    @Test
    void oneTrailingNewlineOfTheSourceIsDroppedAndTheOutputIsNotStripped() {
        assertEquals("x", ChatTemplate.of("x\n", Map.of()).render(HELLO, null, false, Map.of()));
        assertEquals("x\n", ChatTemplate.of("x\n\n", Map.of()).render(HELLO, null, false, Map.of()));
        assertEquals("x\n", ChatTemplate.of("x\r\n\r\n", Map.of()).render(HELLO, null, false, Map.of()));
        assertEquals("  hi\n", ChatTemplate.of("  {{ messages[0].content + '\\n' }}", Map.of())
                .render(HELLO, null, false, Map.of()));
    }

    @Test
    void messageTextIsNeverRenderedAsTemplate() {
        List<Map<String, Object>> messages = List.of(Map.of("role", "user", "content", "{{ 7 * 7 }} {% if true %}x{% endif %}"));

        String rendered = ChatTemplate.chatml(Map.of()).render(messages, null, false, Map.of());

        assertTrue(rendered.contains("\n{{ 7 * 7 }} {% if true %}x{% endif %}<|im_end|>"), rendered);
    }

    @Test
    void strftimeNowReadsTheInjectedClockInItsZone() {
        Clock clock = Clock.fixed(Instant.parse("2024-07-26T23:30:00Z"), ZoneId.of("Asia/Tokyo"));

        String rendered = ChatTemplate.of("{{ strftime_now('%d %B %Y %H:%M') }}", Map.of()).withClock(clock)
                .render(HELLO, null, false, Map.of());

        assertEquals("27 July 2024 08:30", rendered);
    }

    @Test
    void chatmlIsTheTemplateOfTheGoldenCases() {
        List<Map<String, Object>> messages = fixture("fixtures/system-multi-turn.json", new TypeReference<>() {});

        String rendered = ChatTemplate.chatml(Map.of("eos_token", "<|im_end|>")).render(messages, null, true, Map.of());

        assertEquals(expected("chatml--system-multi-turn--gen.txt"), rendered);
    }

    @Test
    void oneInstanceRendersFromManyThreads() throws Exception {
        ChatTemplate template = ChatTemplate.of(ChatTemplateGoldenTest.resource("chat-templates/qwen3.jinja"),
                Map.of("eos_token", "<|im_end|>"));
        List<Map<String, Object>> messages = fixture("fixtures/tool-calls.json", new TypeReference<>() {});
        List<Map<String, Object>> tools = fixture("fixtures/tools.json", new TypeReference<>() {});
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> renders = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                renders.add(threads.submit(() -> template.render(messages, tools, true, Map.of())));
            }
            for (Future<String> render : renders) {
                assertEquals(expected("qwen3--tool-calls--tools--gen.txt"), render.get());
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void realQwen3ModelDirRendersAsTransformersDoes() throws URISyntaxException {
        Path qwen3 = Path.of(ChatTemplateTest.class.getResource("/tokenizers/qwen3").toURI()); // tokenizer_config.json
        List<Map<String, Object>> messages = fixture("fixtures/tool-calls.json", new TypeReference<>() {});
        List<Map<String, Object>> tools = fixture("fixtures/tools.json", new TypeReference<>() {});

        ChatTemplate template = ChatTemplate.fromModelDir(qwen3);
        String rendered = template.render(messages, tools, true, Map.of());

        assertEquals(expected("qwen3--tool-calls--tools--gen.txt"), rendered);
        assertEquals(Optional.of("<|im_end|>"), template.eosToken());
        assertEquals(Optional.empty(), template.bosToken());
        assertFalse(template.rendersBos(rendered));
    }
}
