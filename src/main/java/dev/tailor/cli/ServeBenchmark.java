package dev.tailor.cli;

import dev.tailor.Directories;
import dev.tailor.Json;
import dev.tailor.data.GeneratedModel;
import dev.tailor.model.Adapter;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.Model;
import dev.tailor.model.ModelPreset;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Drives a real {@code tailor serve} process over loopback with streaming chat requests, as users
 * would, and reports throughput and latency per concurrency, for requests spread over many
 * adapters against the same load on the base model alone.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Throughput (output tokens/s), time to first token and inter-token latency of tailor serve over loopback,",
                "requests spread over N adapters against the same load on the base model alone."})
final class ServeBenchmark implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "qwen2.5-0.5b")
    String preset;

    @Option(names = "--adapters", defaultValue = "8", description = "LoRA adapters (r 16 on q,k,v,o) the requests are spread over")
    int adapters;

    @Option(names = "--concurrency", defaultValue = "1,8,32", split = ",", description = "clients sending at once (default: ${DEFAULT-VALUE})")
    List<Integer> concurrency;

    @Option(names = "--requests", defaultValue = "4", description = "requests per client per measurement (default: ${DEFAULT-VALUE})")
    int requestsPerClient;

    @Option(names = "--prompt-words", defaultValue = "60")
    int promptWords;

    @Option(names = "--max-tokens", defaultValue = "32")
    int maxTokens;

    /**
     * One request: when it was sent, how many tokens the server counted, and when each token arrived
     * (System.nanoTime).
     */
    private record Timing(long sentNanos, int tokens, long[] arrivals) {
        /** Seconds from sending to the first token; NaN without tokens. */
        double firstTokenSeconds() {
            return arrivals.length == 0 ? Double.NaN : (arrivals[0] - sentNanos) / 1e9;
        }

        /** Seconds from sending to the last token; 0 without tokens. */
        double lastTokenSeconds() {
            return arrivals.length == 0 ? 0 : (arrivals[arrivals.length - 1] - sentNanos) / 1e9;
        }
    }

    /**
     * Output tokens/s over the whole run and while all c clients were sending (from the last client's
     * first request to the first client's last token), time to first token p50/p95 and inter-token
     * latency p50 in ms.
     */
    private record Load(double tokensPerSecond, double steadyTokensPerSecond, double firstTokenP50, double firstTokenP95,
                        double interTokenP50) {}

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("tailor-bench-serve-");
        Process server = null;
        try {
            Path model = dir.resolve("model");
            GeneratedModel.write(model, ModelPreset.parse(preset), 0, DType.BF16);
            List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
            command.addAll(serverJvmOptions());
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(),
                    "serve", "--model", model.toString(), "--port", "0", "--data-dir", dir.resolve("data").toString(),
                    "--max-running", Integer.toString(concurrency.stream().max(Integer::compare).orElse(8)),
                    "--max-waiting", "256", "--max-loaded-adapters", Integer.toString(Math.max(1, adapters))));
            try (Model m = Model.load(model, Device.CPU, null)) {
                for (int i = 0; i < adapters; i++) {
                    Path out = dir.resolve("adapter-" + i);
                    try (Adapter a = Adapter.create(m, AdapterConfig.forTraining(16, 32, 0, List.of("q_proj", "k_proj", "v_proj", "o_proj"),
                            false, model.toString()), i)) {
                        a.save(out);
                    }
                    command.add("--adapter");
                    command.add("a" + i + "=" + out);
                }
            }
            server = new ProcessBuilder(command).redirectErrorStream(true).start();
            String base = awaitListening(server.getInputStream());
            System.out.printf(Locale.ROOT, "model: %s bf16 on %d cores; %d adapters (LoRA r 16, q,k,v,o); streaming chat, %d-word prompts,"
                    + " %d output tokens; %s%n", preset, Runtime.getRuntime().availableProcessors(), adapters, promptWords, maxTokens, base);
            HttpClient http = HttpClient.newHttpClient();
            // warm-up: JIT, page cache, each adapter's first load; its duration sets how clients' starts are spread
            for (int i = -1; i < adapters; i++) {
                request(http, base, i < 0 ? "base" : "a" + i, BenchText.words(new SplittableRandom(-2 - i), promptWords));
            }
            long warmStart = System.nanoTime();
            request(http, base, "base", BenchText.words(new SplittableRandom(-1), promptWords));
            long oneRequestNanos = System.nanoTime() - warmStart;
            System.out.printf(Locale.ROOT, "each of c clients sends %d requests one after the other; client i starts at i/c of one request's"
                    + " duration (%.0f ms), as arrivals spread in time rather than one burst%n", requestsPerClient, oneRequestNanos / 1e6);
            Map<Integer, Load> summary = new LinkedHashMap<>();
            for (int c : concurrency) {
                long stagger = oneRequestNanos / c;
                Load alone = measure(http, base, c, stagger, false);
                Load spread = adapters == 0 ? alone : measure(http, base, c, stagger, true);
                summary.put(c, spread);
                System.out.printf(Locale.ROOT, "concurrency %d: base alone %.1f tokens/s; over %d adapters %.1f tokens/s (%.0f%% of base alone),"
                                + " time to first token p50 %.0f ms p95 %.0f ms, inter-token latency p50 %.0f ms;"
                                + " whole runs including the staggered start and end: %.1f and %.1f tokens/s%n",
                        c, alone.steadyTokensPerSecond(), adapters, spread.steadyTokensPerSecond(),
                        100 * spread.steadyTokensPerSecond() / alone.steadyTokensPerSecond(), spread.firstTokenP50(),
                        spread.firstTokenP95(), spread.interTokenP50(), alone.tokensPerSecond(), spread.tokensPerSecond());
            }
            Load single = summary.get(concurrency.get(0));
            for (int c : concurrency.subList(1, concurrency.size())) {
                Load l = summary.get(c);
                System.out.printf(Locale.ROOT, "concurrency %d vs %d: throughput %.1fx (whole runs %.1fx), p95 time to first token %.1fx%n",
                        c, concurrency.get(0), l.steadyTokensPerSecond() / single.steadyTokensPerSecond(),
                        l.tokensPerSecond() / single.tokensPerSecond(), l.firstTokenP95() / single.firstTokenP95());
            }
        } finally {
            if (server != null) {
                server.destroy();
                server.waitFor(30, TimeUnit.SECONDS);
            }
            Directories.deleteRecursively(dir);
        }
        return 0;
    }

    /**
     * The server runs with this JVM's own options (the launcher's JavaCPP settings, TAILOR_JAVA_OPTS
     * such as -Dtailor.gemv.noAmx=true), so that it is measured as `tailor serve` runs; a debugger's
     * agent stays with this process.
     */
    private static List<String> serverJvmOptions() {
        List<String> options = new ArrayList<>();
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!option.startsWith("-agentlib:jdwp") && !option.startsWith("-Xrunjdwp")) {
                options.add(option);
            }
        }
        if (options.stream().noneMatch(o -> o.startsWith("--enable-native-access"))) {
            options.add("--enable-native-access=ALL-UNNAMED");
        }
        return options;
    }

    /** The server's URL, from its "listening on" line. */
    private static String awaitListening(InputStream out) throws IOException {
        BufferedReader lines = new BufferedReader(new InputStreamReader(out, StandardCharsets.UTF_8));
        String line;
        while ((line = lines.readLine()) != null) {
            int at = line.indexOf("listening on http://");
            if (at >= 0) {
                String url = line.substring(at + "listening on ".length()).split(" ")[0];
                Thread drain = new Thread(() -> { // keeps the pipe from filling; ends when the server does
                    try {
                        lines.lines().forEach(l -> { });
                    } catch (java.io.UncheckedIOException closed) {
                        // the server stopped
                    }
                }, "server-output");
                drain.setDaemon(true);
                drain.start();
                return url;
            }
        }
        throw new IllegalStateException("tailor serve did not start");
    }

    /** The load of c clients, client i starting i x stagger late. */
    private Load measure(HttpClient http, String base, int c, long staggerNanos, boolean spread) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(c);
        List<Future<List<Timing>>> results = new ArrayList<>();
        long start = System.nanoTime();
        for (int client = 0; client < c; client++) {
            int id = client;
            results.add(clients.submit(() -> {
                SplittableRandom random = new SplittableRandom(id);
                TimeUnit.NANOSECONDS.sleep(id * staggerNanos);
                List<Timing> timings = new ArrayList<>();
                for (int r = 0; r < requestsPerClient; r++) {
                    String model = spread ? "a" + ((id * requestsPerClient + r) % adapters) : "base";
                    timings.add(request(http, base, model, BenchText.words(random, promptWords)));
                }
                return timings;
            }));
        }
        List<Timing> all = new ArrayList<>();
        long allSending = Long.MIN_VALUE; // the last client's first request
        long oneDone = Long.MAX_VALUE; // the first client's last token
        for (Future<List<Timing>> f : results) {
            List<Timing> client = f.get();
            all.addAll(client);
            allSending = Math.max(allSending, client.get(0).sentNanos());
            long[] lastArrivals = client.get(client.size() - 1).arrivals();
            oneDone = Math.min(oneDone, lastArrivals.length == 0 ? Long.MAX_VALUE : lastArrivals[lastArrivals.length - 1]);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        clients.shutdown();
        int tokens = all.stream().mapToInt(Timing::tokens).sum();
        double tokensPerSecond = tokens / seconds;
        double steady = tokensPerSecond; // where clients never all sent at once (one request each), the whole run
        if (oneDone > allSending && oneDone != Long.MAX_VALUE) {
            long from = allSending;
            long to = oneDone;
            long inWindow = all.stream().flatMapToLong(t -> Arrays.stream(t.arrivals())).filter(a -> a >= from && a <= to).count();
            steady = inWindow / ((to - from) / 1e9);
        }
        double[] ttft = all.stream().mapToDouble(t -> t.firstTokenSeconds() * 1000).sorted().toArray();
        double[] itl = all.stream().filter(t -> t.tokens() > 1)
                .mapToDouble(t -> (t.lastTokenSeconds() - t.firstTokenSeconds()) * 1000 / (t.tokens() - 1)).sorted().toArray();
        return new Load(tokensPerSecond, steady, percentile(ttft, 0.5), percentile(ttft, 0.95), percentile(itl, 0.5));
    }

    private Timing request(HttpClient http, String base, String model, String prompt) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", List.of(Map.of("role", "user", "content", prompt)));
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        body.put("stream", true);
        body.put("logprobs", true); // one chunk per token, also for tokens without text of their own
        body.put("stream_options", Map.of("include_usage", true));
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(Json.compact(body))).build();
        long sent = System.nanoTime();
        HttpResponse<java.util.stream.Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("HTTP " + response.statusCode() + ": " + String.join("\n", response.body().toList()));
        }
        int tokens = 0;
        List<Long> arrivals = new ArrayList<>();
        for (String line : (Iterable<String>) response.body()::iterator) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            JsonNode chunk = Json.MAPPER.readTree(line.substring(6));
            long arrived = System.nanoTime();
            int chunkTokens = chunk.path("choices").path(0).path("logprobs").path("content").size(); // 0: the role chunk
            for (int i = 0; i < chunkTokens; i++) {
                arrivals.add(arrived);
            }
            if (chunk.hasNonNull("usage")) {
                tokens = chunk.get("usage").get("completion_tokens").asInt();
            }
        }
        return new Timing(sent, tokens, arrivals.stream().mapToLong(Long::longValue).toArray());
    }

    private static double percentile(double[] sorted, double p) {
        return sorted.length == 0 ? Double.NaN : sorted[Math.max(0, (int) Math.ceil(p * sorted.length) - 1)];
    }
}
