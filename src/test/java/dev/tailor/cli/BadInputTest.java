package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input ends with one line naming the file or field and the fix, exit code 1, and no JVM crash. */
class BadInputTest {
    @TempDir
    static Path tmp;
    static Path good;

    @BeforeAll
    static void initModel() {
        good = tmp.resolve("good");
        assertEquals(0, CliRun.of("init-model", good.toString(), "--preset", "tiny").exitCode());
    }

    private static Path copy(String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(good)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }

    private static String fails(String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(1, r.exitCode(), "exit code; stderr:\n" + r.err());
        return r.errorLine();
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path dir = copy("truncated");
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("model.safetensors").toFile(), "rw")) {
            f.setLength(f.length() - 100);
        }
        String e = fails("logprobs", "--model", dir.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("model.safetensors"), e);
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path dir = copy("bad-header");
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("model.safetensors").toFile(), "rw")) {
            f.seek(0);
            f.write(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x7f, 0, 0, 0, 0});
        }
        String e = fails("logprobs", "--model", dir.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("model.safetensors"), e);
    }

    @Test
    void configThatDoesNotMatchTheWeights() throws IOException {
        Path dir = copy("shape-mismatch");
        editConfig(dir, c -> c.put("intermediate_size", 200));
        String e = fails("logprobs", "--model", dir.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("mlp.gate_proj.weight") && e.contains("shape"), e);
    }

    @Test
    void unknownArchitecture() throws IOException {
        Path dir = copy("gpt2");
        editConfig(dir, c -> c.put("model_type", "gpt2"));
        String e = fails("logprobs", "--model", dir.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("model_type 'gpt2'") && e.contains("config.json"), e);
    }

    @Test
    void unsupportedRopeScaling() throws IOException {
        Path dir = copy("yarn");
        editConfig(dir, c -> c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0));
        String e = fails("logprobs", "--model", dir.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("yarn"), e);
    }

    @Test
    void missingTokenizer() throws IOException {
        Path dir = copy("no-tokenizer");
        Files.delete(dir.resolve("tokenizer.json"));
        String e = fails("generate", "--model", dir.toString(), "--prompt", "hi");
        assertTrue(e.contains("tokenizer.json"), e);
    }

    @Test
    void tokenIdOutsideTheVocabulary() {
        String e = fails("logprobs", "--model", good.toString(), "--token-ids", "1,2,512");
        assertTrue(e.contains("512") && e.contains("vocabulary"), e);
    }

    @Test
    void promptLongerThanTheContext() throws IOException {
        Path dir = copy("short-context");
        editConfig(dir, c -> c.put("max_position_embeddings", 8));
        String e = fails("generate", "--model", dir.toString(), "--prompt", "this prompt is certainly longer than eight tokens");
        assertTrue(e.contains("context"), e);
    }

    @Test
    void templateRaisingAnException() throws IOException {
        Path template = tmp.resolve("strict.jinja");
        Files.writeString(template, "{% if messages[0]['role'] != 'system' %}{{ raise_exception('a system message must come first') }}{% endif %}");
        Path messages = tmp.resolve("user-only.json");
        Files.writeString(messages, "[{\"role\":\"user\",\"content\":\"hi\"}]");
        String e = fails("chat-template", "--template", template.toString(), "--messages", messages.toString());
        assertTrue(e.contains("a system message must come first"), e);
    }

    @Test
    void messagesFileThatIsNotJson() throws IOException {
        Path messages = tmp.resolve("broken.json");
        Files.writeString(messages, "[{\"role\": \"user\", \"content\": \"hi\"");
        String e = fails("generate", "--model", good.toString(), "--messages", messages.toString());
        assertTrue(e.contains("broken.json") && e.contains("line"), e);
    }

    @Test
    void adapterForAnotherModel() throws IOException {
        Path adapter = Path.of("src/test/resources/reference-models/qwen2-lora/adapter");
        String e = fails("logprobs", "--model", good.toString(), "--adapter", adapter.toString(), "--token-ids", "1,2,3");
        assertTrue(e.contains("adapter_model.safetensors"), e);
    }

    @Test
    void initModelWithAnUnknownPreset() {
        String e = fails("init-model", tmp.resolve("x").toString(), "--preset", "gpt-5");
        assertTrue(e.contains("tiny"), e);
    }

    private static void editConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectNode c = (ObjectNode) Json.readTree(dir.resolve("config.json"));
        edit.accept(c);
        Files.writeString(dir.resolve("config.json"), Json.pretty(c));
    }
}
