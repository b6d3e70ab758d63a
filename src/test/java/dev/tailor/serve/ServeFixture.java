package dev.tailor.serve;

import dev.tailor.data.GeneratedModel;
import dev.tailor.model.Model;
import dev.tailor.model.ModelPreset;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A tiny generated model with real PEFT adapters saved for it, and servers over them on
 * 127.0.0.1 with a free port: what the HTTP tests share.
 */
final class ServeFixture implements AutoCloseable {
    static final String BASE_ID = "tiny";

    final Path dir;
    final Model model;
    /** Adapters of rank 4 and 8 on every linear layer of the model, each changing its outputs. */
    final Path adapterA;
    final Path adapterB;
    /** A PEFT directory whose config claims a rank its weights do not have. */
    final Path mismatchedAdapter;

    ServeFixture(Path dir) throws IOException {
        this.dir = dir;
        Path modelDir = dir.resolve(BASE_ID);
        GeneratedModel.write(modelDir, ModelPreset.TINY, 5, DType.F32);
        model = Model.load(modelDir, Device.CPU, null);
        adapterA = saveAdapter("adapter-a", 4, 1);
        adapterB = saveAdapter("adapter-b", 8, 2);
        mismatchedAdapter = saveAdapter("adapter-mismatched", 4, 3);
        Path config = mismatchedAdapter.resolve("adapter_config.json");
        var json = (com.fasterxml.jackson.databind.node.ObjectNode) dev.tailor.Json.readTree(config);
        Files.writeString(config, json.put("r", 8).toString());
    }

    private Path saveAdapter(String name, int rank, long seed) {
        return ServeFixtures.writeAdapter(model, dir.resolve(name), rank, List.of("all-linear"), seed, BASE_ID);
    }

    /** A started server: {@code config}'s keys, adapters and experiments, its request log in {@code logFile}. */
    Running start(ServeConfig config, Path logFile) {
        return start(config, logFile, EngineOptions.defaults().withMaxSequenceLength(256));
    }

    /** As {@link #start(ServeConfig, Path)}, with its own engine of these options. */
    Running start(ServeConfig config, Path logFile, EngineOptions options) {
        return start(config, logFile, options, Duration.ofSeconds(10));
    }

    /** As {@link #start(ServeConfig, Path, EngineOptions)}, draining for {@code drain} when closed. */
    Running start(ServeConfig config, Path logFile, EngineOptions options, Duration drain) {
        BatchingEngine engine = BatchingEngine.start(dir.resolve(BASE_ID), Device.CPU, null, options);
        EngineAdapterCatalog adapters = new EngineAdapterCatalog(engine);
        ModelCatalog catalog = ModelCatalog.open(BASE_ID, adapters, config.adapters(), config.experiments());
        RequestLog log = RequestLog.open(logFile);
        ServeMetrics metrics = new ServeMetrics(log, () -> adapters.adapters().size());
        Server server = new Server(new Server.Settings("127.0.0.1", 0, drain), engine, catalog,
                new ApiKeys(config.apiKeys(), config.limits()), log, metrics).start();
        return new Running(server, engine, catalog, adapters, log, metrics);
    }

    /** A server and what it serves, closed together. */
    record Running(Server server, BatchingEngine engine, ModelCatalog catalog, EngineAdapterCatalog adapters, RequestLog log,
                   ServeMetrics metrics) implements AutoCloseable {
        String url(String path) {
            return "http://127.0.0.1:" + server.port() + path;
        }

        @Override
        public void close() {
            server.close();
            log.close();
            adapters.close();
            engine.close();
        }
    }

    /** Plain HTTP, as curl would send it. */
    static final class Http {
        private static final HttpClient CLIENT = HttpClient.newHttpClient();

        static HttpResponse<String> send(String method, String url, String key, String body) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
            if (key != null) {
                b.header("Authorization", "Bearer " + key);
            }
            if (body != null) {
                b.header("Content-Type", "application/json");
            }
            try {
                return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        static HttpResponse<String> get(String url, String key) {
            return send("GET", url, key, null);
        }

        static HttpResponse<String> post(String url, String key, String body) {
            return send("POST", url, key, body);
        }
    }

    @Override
    public void close() {
        model.close();
    }

    static Map<String, Object> json(String text) {
        return dev.tailor.Json.MAPPER.convertValue(readTree(text), new com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>>() {});
    }

    static com.fasterxml.jackson.databind.JsonNode readTree(String text) {
        try {
            return dev.tailor.Json.MAPPER.readTree(text);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + text, e);
        }
    }
}
