package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands end to end on a generated tiny model: what a user types, what they get. */
class CommandsTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void initModel() {
        model = tmp.resolve("tiny");
        CliRun r = CliRun.of("init-model", model.toString(), "--preset", "tiny", "--seed", "7");
        assertEquals(0, r.exitCode(), r.err());
        for (String f : new String[] {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            assertTrue(Files.isRegularFile(model.resolve(f)), f);
        }
    }

    @Test
    void helpListsEveryCommand() {
        CliRun r = CliRun.of("--help");
        for (String c : new String[] {"init-model", "generate", "chat", "logprobs", "chat-template", "demo", "train", "merge", "bench"}) {
            assertTrue(r.out().contains(c), c + " missing from --help:\n" + r.out());
        }
    }

    @Test
    void initModelRefusesToOverwriteWithoutForce() {
        CliRun r = CliRun.of("init-model", model.toString(), "--preset", "tiny");
        assertEquals(1, r.exitCode());
        assertTrue(r.errorLine().contains("--force"), r.err());
    }

    @Test
    void initModelCopiesAGivenTokenizerAndItsSpecialIds() throws IOException {
        Path other = tmp.resolve("with-tokenizer");
        CliRun r = CliRun.of("init-model", other.toString(), "--preset", "tiny", "--tokenizer", model.toString(), "--dtype", "bf16");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(Files.readString(model.resolve("tokenizer.json")), Files.readString(other.resolve("tokenizer.json")));
        JsonNode config = Json.readTree(other.resolve("config.json"));
        assertEquals("bfloat16", config.get("torch_dtype").asText());
        assertEquals(Json.readTree(model.resolve("config.json")).get("eos_token_id"), config.get("eos_token_id"));
    }

    @Test
    void initModelRejectsATokenizerLargerThanThePresetVocabulary() throws IOException {
        Path qwen3 = Files.createDirectories(tmp.resolve("qwen3"));
        Path resources = Path.of("src/test/resources/tokenizers/qwen3");
        try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(resources.resolve("tokenizer.json.gz")))) {
            Files.copy(in, qwen3.resolve("tokenizer.json"));
        }
        Files.copy(resources.resolve("tokenizer_config.json"), qwen3.resolve("tokenizer_config.json"));
        CliRun r = CliRun.of("init-model", tmp.resolve("too-big").toString(), "--preset", "tiny", "--tokenizer", qwen3.toString());
        assertEquals(1, r.exitCode(), r.err());
        assertTrue(r.errorLine().contains("151"), r.err());
    }

    @Test
    void logprobsOfTextAndOfItsTokenIdsAgree() {
        CliRun text = CliRun.of("logprobs", "--model", model.toString(), "--text", "Hello world, hello tailor");
        assertEquals(0, text.exitCode(), text.err());
        JsonNode a = Json.MAPPER.valueToTree(parse(text.out()));
        JsonNode ids = a.get("token_ids");
        assertEquals(ids.size() - 1, a.get("logprobs").size());
        StringBuilder csv = new StringBuilder();
        ids.forEach(n -> csv.append(csv.length() > 0 ? "," : "").append(n.asInt()));
        CliRun byIds = CliRun.of("logprobs", "--model", model.toString(), "--token-ids", csv.toString());
        assertEquals(0, byIds.exitCode(), byIds.err());
        assertEquals(a, Json.MAPPER.valueToTree(parse(byIds.out())));
        for (JsonNode lp : a.get("logprobs")) {
            assertTrue(lp.asDouble() < 0 && lp.asDouble() > -20, "implausible logprob " + lp);
        }
    }

    @Test
    void greedyGenerationIsDeterministicAndStopsAtMaxTokens() {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "Once upon a time", "--max-tokens", "12"};
        CliRun first = CliRun.of(args);
        assertEquals(0, first.exitCode(), first.err());
        assertTrue(first.err().contains("12 tokens, finish_reason=length"), first.err());
        assertEquals(first.out(), CliRun.of(args).out());
    }

    @Test
    void seededSamplingIsReproducible() {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "Hi", "--max-tokens", "16",
                "--temperature", "1.0", "--top-p", "0.9", "--top-k", "50", "--seed", "42"};
        CliRun a = CliRun.of(args);
        assertEquals(0, a.exitCode(), a.err());
        assertEquals(a.out(), CliRun.of(args).out());
    }

    @Test
    void interactiveChatAnswersEachTurnAndQuitsOnExit() {
        java.io.InputStream stdin = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream("hello\n/reset\nagain\n/exit\nnever read\n".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            CliRun r = CliRun.of("chat", "--model", model.toString(), "--max-tokens", "3", "--system", "Be brief.");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.out().startsWith("Chatting with tiny."), r.out());
            assertEquals(4, r.out().split("> ", -1).length - 1, "one prompt per line read up to /exit:\n" + r.out());
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void chatMessagesAreRenderedWithTheModelTemplate() throws IOException {
        Path messages = tmp.resolve("messages.json");
        Files.writeString(messages, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Grüß dich 👋\"}]");
        CliRun r = CliRun.of("chat-template", "--model", model.toString(), "--messages", messages.toString(), "--add-generation-prompt");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nGrüß dich 👋<|im_end|>\n<|im_start|>assistant\n", r.out());
        CliRun gen = CliRun.of("generate", "--model", model.toString(), "--messages", messages.toString(), "--max-tokens", "4");
        assertEquals(0, gen.exitCode(), gen.err());
    }

    @Test
    void chatTemplateIdsStartWithTheSpecialTokenOnce() throws IOException {
        Path messages = tmp.resolve("one.json");
        Files.writeString(messages, "[{\"role\":\"user\",\"content\":\"hi\"}]");
        CliRun r = CliRun.of("chat-template", "--model", model.toString(), "--messages", messages.toString(), "--ids");
        assertEquals(0, r.exitCode(), r.err());
        String[] ids = r.out().strip().split(",");
        JsonNode added = Json.readTree(model.resolve("tokenizer.json")).get("added_tokens");
        int imStart = -1;
        for (JsonNode t : added) {
            if (t.get("content").asText().equals("<|im_start|>")) {
                imStart = t.get("id").asInt();
            }
        }
        assertEquals(imStart, Integer.parseInt(ids[0]));
        assertTrue(Integer.parseInt(ids[1]) != imStart);
    }

    private static Object parse(String json) {
        try {
            return Json.MAPPER.readValue(json, Object.class);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }
}
