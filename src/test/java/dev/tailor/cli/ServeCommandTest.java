package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.model.Adapter;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.Model;
import dev.tailor.tensor.Device;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tailor serve: keys hashed as sha256sum does, one-line startup errors, 127.0.0.1 without keys, a real server stopped by SIGTERM. */
class ServeCommandTest {
    /** printf %s sk-acme-1 | sha256sum */
    private static final String ACME_HASH = "819685611e044dc4918e558945f580790befd0786cc2fb36e3417477ed704a3d";

    @TempDir
    Path tmp;

    private static CliRun withStdin(String input, String... args) {
        InputStream old = System.in;
        System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
        try {
            return CliRun.of(args);
        } finally {
            System.setIn(old);
        }
    }

    @Test
    void hashKeyPrintsWhatSha256sumPrints() throws Exception {
        CliRun run = withStdin("sk-acme-1\n", "serve", "hash-key");
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(ACME_HASH + "\n", run.out());
        assertEquals("error: hash-key reads the key from standard input: printf %s \"$KEY\" | tailor serve hash-key",
                withStdin("", "serve", "hash-key").errorLine());

        CliRun generated = CliRun.of("serve", "hash-key", "--generate");
        Matcher m = Pattern.compile("key: +(sk-tailor-[A-Za-z0-9_-]{43}) .*\nkey_sha256: ([0-9a-f]{64})\n").matcher(generated.out());
        assertTrue(m.matches(), generated.out());
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(m.group(1).getBytes(StandardCharsets.UTF_8));
        assertEquals(HexFormat.of().formatHex(digest), m.group(2));
    }

    @Test
    void startupMistakesAreOneLine() throws Exception {
        Path model = Files.createDirectories(tmp.resolve("model")); // never loaded: each mistake is found first
        Path config = tmp.resolve("serve.yaml");
        Files.writeString(config, "api_keys:\n  - {key_sha256: sk-acme-1, tenant: acme}\n");
        assertEquals("error: " + config + ": api_keys[0].key_sha256: must be the 64 hex digits of the key's SHA-256 (tailor serve"
                        + " hash-key, or printf %s \"$KEY\" | sha256sum), never the key itself",
                CliRun.of("serve", "--model", model.toString(), "--config", config.toString()).errorLine());
        assertEquals("error: --host 0.0.0.0: without API keys the server listens on 127.0.0.1 only; add api_keys to serve.yaml"
                + " (see tailor serve hash-key) to listen on other addresses", CliRun.of("serve", "--model", model.toString(), "--host", "0.0.0.0").errorLine());
        assertEquals("error: --model DIR is required: the Hugging Face model directory to serve", CliRun.of("serve").errorLine());
        Files.writeString(config, "adapters: {support-v1: runs/a}\n");
        assertEquals("error: --adapter support-v1=runs/b: serve.yaml's adapters already name 'support-v1'; use another name",
                CliRun.of("serve", "--model", model.toString(), "--config", config.toString(), "--adapter", "support-v1=runs/b").errorLine());
    }

    @Test
    void withoutKeysTheServerListensOnLoopbackOnly() {
        assertEquals("127.0.0.1", ServeCommand.bindHost(null, false));
        assertEquals("127.0.0.1", ServeCommand.bindHost("localhost", false));
        assertEquals("::1", ServeCommand.bindHost("::1", false));
        assertThrows(TailorException.class, () -> ServeCommand.bindHost("192.168.1.20", false));
        assertEquals("0.0.0.0", ServeCommand.bindHost(null, true));
        assertEquals("192.168.1.20", ServeCommand.bindHost("192.168.1.20", true));
    }

    /** A real `tailor serve` in its own JVM: it serves, says it listens on 127.0.0.1 only, and stops cleanly on SIGTERM. */
    @Test
    void aServerProcessServesAndStopsOnSigterm() throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, CliRun.of("init-model", model.toString(), "--preset", "tiny").exitCode());
        Path adapter = tmp.resolve("support-v1");
        try (Model m = Model.load(model, Device.CPU, null);
             Adapter a = Adapter.create(m, AdapterConfig.forTraining(4, 8, 0, List.of("q_proj", "v_proj"), false, "tiny"), 1)) {
            a.save(adapter);
        }
        Path config = tmp.resolve("serve.yaml");
        Files.writeString(config, "experiments:\n  - {name: support-ab, variants: [{name: base, target: base, weight: 9},"
                + " {name: tuned, target: support-v1, weight: 1}]}\n");
        Path data = tmp.resolve("data");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "serve", "--model", model.toString(), "--adapter", "support-v1=" + adapter, "--port", "0",
                "--config", config.toString(), "--data-dir", data.toString()));
        Path log = tmp.resolve("serve.log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            int port = awaitPort(p, log);
            String printed = Files.readString(log);
            assertTrue(printed.contains("tailor serve: no API keys configured, so listening on 127.0.0.1 only;"), printed);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> models = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, models.statusCode());
            assertTrue(models.body().contains("{\"id\":\"support-v1\",\"object\":\"model\"") && models.body().contains("\"parent\":\"tiny\"")
                    && models.body().contains("{\"id\":\"support-ab\""), models.body());
            HttpResponse<String> chat = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                            "{\"model\": \"support-ab\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode(), chat.body());
            assertTrue(chat.body().contains("\"object\":\"chat.completion\""), chat.body());
            assertTrue(chat.headers().firstValue("X-Tailor-Variant").isPresent(), "the experiment's variant is named");
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "no exit after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
        String printed = Files.readString(log);
        assertEquals(143, p.exitValue(), printed); // 128 + SIGTERM
        assertTrue(printed.endsWith("tailor serve: stopped\n"), printed);
        assertTrue(Files.isRegularFile(data.resolve("requests.db")), "the request log lives under --data-dir");
    }

    private static int awaitPort(Process p, Path log) throws Exception {
        Pattern listening = Pattern.compile("tailor serve: listening on http://127\\.0\\.0\\.1:(\\d+) \\(model tiny, 1 adapters, 1 experiments\\)");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            Matcher m = listening.matcher(Files.readString(log));
            if (m.find()) {
                return Integer.parseInt(m.group(1));
            }
            assertTrue(p.isAlive(), "the server exited:\n" + Files.readString(log));
            Thread.sleep(20);
        }
        throw new AssertionError("the server never said where it listens:\n" + Files.readString(log));
    }
}
