package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.serve.ApiKey;
import dev.tailor.serve.ApiKeys;
import dev.tailor.serve.BatchingEngine;
import dev.tailor.serve.EngineAdapterCatalog;
import dev.tailor.serve.EngineOptions;
import dev.tailor.serve.ModelCatalog;
import dev.tailor.serve.RequestLog;
import dev.tailor.serve.ServeConfig;
import dev.tailor.serve.ServeMetrics;
import dev.tailor.serve.Server;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, subcommands = ServeCommand.HashKey.class,
        description = {"Serve a model and its LoRA adapters behind an OpenAI-compatible HTTP API, with A/B experiments,"
                + " API keys per tenant and a request log.",
                "Stops gracefully on SIGTERM or Ctrl-C: requests in flight finish first."})
final class ServeCommand implements Callable<Integer>, ConfigFile.OwnFormat {
    /** Hosts that reach only this machine: the only ones a server without API keys listens on. */
    private static final Set<String> LOOPBACK = Set.of("127.0.0.1", "localhost", "::1");

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (the base model)")
    Path model;

    @Option(names = "--adapter", paramLabel = "NAME=DIR", description = "a PEFT LoRA adapter to serve as model NAME (repeatable)")
    Map<String, Path> adapters = new LinkedHashMap<>();

    @Option(names = "--port", defaultValue = "8000", description = "port to listen on; 0 picks a free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--host", description = "address to listen on (default: 0.0.0.0 with API keys, else 127.0.0.1, the only choice then)")
    String host;

    @Option(names = "--config", paramLabel = "serve.yaml", description = "API keys, limits, adapters, experiments, database")
    Path config;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "tailor-data",
            description = "where the request log database lives unless serve.yaml names one (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--drain-seconds", defaultValue = "30",
            description = "on shutdown, how long requests in flight may take to finish (default: ${DEFAULT-VALUE})")
    int drainSeconds;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--dtype", paramLabel = "f32|bf16", description = "compute dtype of the weights (default: the checkpoint's; f16 becomes f32)")
    String dtype;

    @Option(names = "--max-running", defaultValue = "8",
            description = "requests decoded together in one batch at most (default: ${DEFAULT-VALUE})")
    int maxRunning;

    @Option(names = "--max-waiting", defaultValue = "64",
            description = "accepted requests waiting for a place in the batch; beyond them clients get 429 (default: ${DEFAULT-VALUE})")
    int maxWaiting;

    @Option(names = "--max-loaded-adapters", defaultValue = "8",
            description = "adapters kept in memory; the least recently used idle one makes room (default: ${DEFAULT-VALUE})")
    int maxLoadedAdapters;

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: one per core)")
    int threads;

    @Override
    public Integer call() throws InterruptedException {
        if (model == null) {
            throw new TailorException("--model DIR is required: the Hugging Face model directory to serve");
        }
        if (!Files.isDirectory(model)) {
            throw new TailorException("--model " + model + ": not a directory");
        }
        ServeConfig settings = config == null ? ServeConfig.NONE : ServeConfig.load(config);
        boolean withKeys = !settings.apiKeys().isEmpty();
        String bindHost = bindHost(host, withKeys);
        Map<String, Path> served = servedAdapters(settings.adapters(), adapters);
        Engine.configure(threads);
        List<AutoCloseable> opened = new ArrayList<>(); // closed in reverse on shutdown, or when startup fails
        try {
            EngineOptions engineOptions = EngineOptions.defaults().withMaxRunning(maxRunning).withMaxWaiting(maxWaiting)
                    .withMaxLoadedAdapters(maxLoadedAdapters).withShutdownGrace(Duration.ofSeconds(drainSeconds));
            BatchingEngine engine = BatchingEngine.start(model, Device.parse(device), dtype == null ? null : DType.parse(dtype),
                    engineOptions);
            opened.add(engine);
            EngineAdapterCatalog catalog = new EngineAdapterCatalog(engine);
            opened.add(catalog);
            String baseId = model.toAbsolutePath().normalize().getFileName().toString();
            ModelCatalog models = ModelCatalog.open(baseId, catalog, served, settings.experiments());
            RequestLog log = openLog(settings.database());
            opened.add(log);
            Server server = new Server(new Server.Settings(bindHost, port, Duration.ofSeconds(drainSeconds)), engine, models,
                    new ApiKeys(settings.apiKeys(), settings.limits()), log, new ServeMetrics(log, () -> catalog.adapters().size()))
                    .start();
            opened.add(server);
            InetSocketAddress bound = server.address();
            String where = bound.getAddress().getHostAddress();
            if (!withKeys) { // before the "listening" line, which scripts and tests wait for
                System.out.println("tailor serve: no API keys configured, so listening on " + where
                        + " only; add api_keys to serve.yaml to accept other hosts");
            }
            System.out.println("tailor serve: listening on http://" + (where.contains(":") ? "[" + where + "]" : where) + ":"
                    + bound.getPort() + " (model " + baseId + ", " + catalog.adapters().size() + " adapters, "
                    + settings.experiments().size() + " experiments)");
            System.out.flush();
        } catch (RuntimeException e) {
            closeAll(opened);
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("tailor serve: stopping (requests in flight may take up to " + drainSeconds + " s)");
            closeAll(opened);
            System.out.println("tailor serve: stopped");
            System.out.flush();
        }, "tailor-serve-shutdown"));
        new CountDownLatch(1).await(); // serves until the process is told to stop
        return 0;
    }

    /**
     * Where to listen: without API keys only on this machine, whatever was asked (anyone who can
     * reach the port could use and manage every model); with keys everywhere unless {@code requested}.
     */
    static String bindHost(String requested, boolean withKeys) {
        if (withKeys) {
            return requested == null ? "0.0.0.0" : requested;
        }
        if (requested == null || requested.equals("localhost") || requested.equals("127.0.0.1")) {
            return "127.0.0.1";
        }
        if (LOOPBACK.contains(requested)) {
            return requested;
        }
        throw new TailorException("--host " + requested + ": without API keys the server listens on 127.0.0.1 only; add"
                + " api_keys to serve.yaml (see tailor serve hash-key) to listen on other addresses");
    }

    /** serve.yaml's adapters and the command line's, each name once. */
    private static Map<String, Path> servedAdapters(Map<String, Path> fromConfig, Map<String, Path> fromCommandLine) {
        Map<String, Path> out = new LinkedHashMap<>(fromConfig);
        fromCommandLine.forEach((name, dir) -> {
            if (out.putIfAbsent(name, dir) != null) {
                throw new TailorException("--adapter " + name + "=" + dir + ": serve.yaml's adapters already name '" + name
                        + "'; use another name");
            }
        });
        return out;
    }

    private RequestLog openLog(String database) {
        if (database != null && database.startsWith("jdbc:")) {
            return RequestLog.open(database, RequestLog.Settings.DEFAULT);
        }
        return RequestLog.open(database != null ? Path.of(database) : dataDir.resolve("requests.db"));
    }

    private static void closeAll(List<AutoCloseable> opened) {
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception e) {
                System.err.println("tailor serve: while stopping: " + e);
            }
        }
        opened.clear();
    }

    @Command(name = "hash-key", mixinStandardHelpOptions = true,
            description = {"Print the SHA-256 of an API key, read from standard input, for serve.yaml's key_sha256.",
                    "With --generate, make a new random key and print it with its hash. The same hash:"
                            + " printf %%s \"$KEY\" | sha256sum"})
    static final class HashKey implements Callable<Integer> {
        @Option(names = "--generate", description = "make a new key (sk-tailor-...) instead of reading one")
        boolean generate;

        @Override
        public Integer call() throws IOException {
            if (generate) {
                byte[] random = new byte[32];
                new SecureRandom().nextBytes(random);
                String key = "sk-tailor-" + Base64.getUrlEncoder().withoutPadding().encodeToString(random);
                System.out.println("key:        " + key + "   (give it to the client; it is not stored)");
                System.out.println("key_sha256: " + ApiKey.hash(key));
                return 0;
            }
            // stdin rather than an argument: the key stays out of the shell's history and the process list
            String key = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (key == null || key.isBlank()) {
                throw new TailorException("hash-key reads the key from standard input: printf %s \"$KEY\" | tailor serve hash-key");
            }
            System.out.println(ApiKey.hash(key.strip()));
            return 0;
        }
    }
}
