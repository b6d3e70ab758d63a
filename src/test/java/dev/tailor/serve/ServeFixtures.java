package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.GeneratedModel;
import dev.tailor.model.Adapter;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.Completion;
import dev.tailor.model.Generator;
import dev.tailor.model.LoraWeights;
import dev.tailor.model.Model;
import dev.tailor.model.ModelPreset;
import dev.tailor.model.SamplingParams;
import dev.tailor.model.TokenLogprob;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;

/**
 * A tiny generated base model with two adapters that change its outputs, and the independent
 * reference computations the engine is compared with: the request alone through {@link Generator}
 * with the adapter attached, and {@link Model#logprobs} of prompt + output.
 */
final class ServeFixtures implements AutoCloseable {
    /** An adapter on q_proj and v_proj only (r 4), so the other layers see rows with and without adapters. */
    static final String QV = "qv";
    /** An adapter on every linear layer (r 8). */
    static final String ALL = "all";

    final Path base;
    final Path qv;
    final Path all;
    final Model reference;
    final Tokenizer tokenizer;

    ServeFixtures(Path dir) {
        this(dir, DType.F32);
    }

    /** @param dtype of the base model's weights (the adapters stay fp32, as trained) */
    ServeFixtures(Path dir, DType dtype) {
        Engine.ensureConfigured();
        base = dir.resolve("base");
        GeneratedModel.write(base, ModelPreset.TINY, 31, dtype);
        reference = Model.load(base, Device.CPU, null);
        tokenizer = Tokenizer.fromModelDir(base);
        qv = writeAdapter(dir.resolve(QV), 4, List.of("q_proj", "v_proj"), 1);
        all = writeAdapter(dir.resolve(ALL), 8, List.of("all-linear"), 2);
    }

    private Path writeAdapter(Path dir, int r, List<String> targets, long seed) {
        return writeAdapter(reference, dir, r, targets, seed, base.toString());
    }

    /** A PEFT adapter for {@code model} with random non-zero B (std 0.3: strong enough to change the greedy tokens). */
    static Path writeAdapter(Model model, Path dir, int r, List<String> targets, long seed, String baseName) {
        try (Adapter adapter = Adapter.create(model, AdapterConfig.forTraining(r, 2 * r, 0, targets, false, baseName), seed)) {
            Random random = new Random(seed);
            try (PointerScope scope = new PointerScope()) {
                for (LoraWeights w : adapter.modules().values()) {
                    float[] values = new float[(int) w.b().numel()];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = (float) (random.nextGaussian() * 0.3);
                    }
                    w.b().detach().copy_(Tensors.fromFloats(values, w.b().size(0), w.b().size(1)));
                }
            }
            adapter.save(dir);
        }
        return dir;
    }

    Path adapterDir(String name) {
        return name == null ? null : name.equals(QV) ? qv : all;
    }

    BatchingEngine start(EngineOptions options) {
        BatchingEngine engine = BatchingEngine.start(base, Device.CPU, null, options);
        engine.register(QV, qv);
        engine.register(ALL, all);
        return engine;
    }

    /** The request alone: {@link Generator} on the reference model with the adapter attached. */
    Completion alone(int[] prompt, String adapter, SamplingParams params) {
        return withAdapter(adapter, () -> new Generator(reference, tokenizer).generate(prompt, params, null));
    }

    /** For each generated token: its log-probability after prompt + the tokens before it, recomputed without a cache. */
    List<TokenLogprob> recomputed(int[] prompt, int[] generated, String adapter, int top) {
        int[] ids = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, ids, prompt.length, generated.length);
        List<TokenLogprob> all = withAdapter(adapter, () -> reference.scores(ids, null, top));
        return all.subList(prompt.length - 1, all.size());
    }

    private <T> T withAdapter(String name, java.util.function.Supplier<T> run) {
        if (name == null) {
            return run.get();
        }
        try (Adapter adapter = Adapter.load(adapterDir(name), reference)) {
            reference.attach(adapter);
            try {
                return run.get();
            } finally {
                reference.detachAdapter();
            }
        }
    }

    static int[] prompt(long seed, int length) {
        return new Random(seed).ints(length, 0, 500).toArray();
    }

    @Override
    public void close() {
        tokenizer.close();
        reference.close();
    }

    /** Collects one request's stream; optionally holds the scheduler thread at its first token until released. */
    static class Collector implements GenerationListener {
        final List<GeneratedToken> tokens = Collections.synchronizedList(new ArrayList<>());
        final CompletableFuture<GenerationResult> finished = new CompletableFuture<>();
        final CountDownLatch atFirstToken = new CountDownLatch(1);
        private final CountDownLatch gate;

        Collector() {
            this(null);
        }

        /** @param gate while not released, the first token's call blocks the scheduler thread (tests only: listeners must not block) */
        Collector(CountDownLatch gate) {
            this.gate = gate;
        }

        @Override
        public void onToken(GeneratedToken token) {
            tokens.add(token);
            if (token.index() == 0) {
                atFirstToken.countDown();
                if (gate != null) {
                    await(gate);
                }
            }
        }

        @Override
        public void onFinish(GenerationResult result) {
            finished.complete(result);
        }

        @Override
        public void onError(RuntimeException error) {
            finished.completeExceptionally(error);
        }

        String streamedText() {
            StringBuilder sb = new StringBuilder();
            tokens.forEach(t -> sb.append(t.text()));
            return sb.toString();
        }

        GenerationResult result() {
            return finished.orTimeout(120, TimeUnit.SECONDS).join();
        }
    }

    static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(120, TimeUnit.SECONDS), "timed out waiting (a hang, not a slow machine)");
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
