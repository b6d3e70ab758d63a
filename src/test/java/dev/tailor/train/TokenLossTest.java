package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.Batch;
import dev.tailor.model.Adapter;
import dev.tailor.model.AdapterConfig;
import dev.tailor.model.FullWeights;
import dev.tailor.model.Model;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loss: packing is exact, LoRA and full fine-tuning gradients match finite differences. */
class TokenLossTest {
    private static final int I = -100;

    @TempDir
    static Path tmp;
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(TrainingFixtures.tinyModel(tmp.resolve("tiny")), Device.CPU, null);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static final long[] A_IDS = {3, 17, 40, 41, 9, 100};
    private static final long[] A_LABELS = {I, I, I, 41, 9, 100};
    private static final long[] B_IDS = {5, 6, 77, 300};
    private static final long[] B_LABELS = {I, 6, 77, 300};

    private static Batch alone(long[] ids, long[] labels) {
        long[] positions = new long[ids.length];
        int[] segments = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            positions[i] = i;
            segments[i] = 1;
        }
        return new Batch(1, ids.length, ids, labels, positions, segments, 1);
    }

    /** A then B in one row, then two padding slots. */
    private static Batch packed() {
        return new Batch(1, 12,
                new long[] {3, 17, 40, 41, 9, 100, 5, 6, 77, 300, 0, 0},
                new long[] {I, I, I, 41, 9, 100, I, 6, 77, 300, I, I},
                new long[] {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 0},
                new int[] {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0}, 2);
    }

    @Test
    void packedExamplesGiveTheLossOfEachAlone() {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            TokenLoss.Result a = TokenLoss.evaluate(model, alone(A_IDS, A_LABELS));
            TokenLoss.Result b = TokenLoss.evaluate(model, alone(B_IDS, B_LABELS));
            TokenLoss.Result both = TokenLoss.evaluate(model, packed());
            // A trains 3 targets (41, 9, 100 predicted from their predecessors), B 3; B's first token is never
            // predicted from A's last
            assertEquals(3 + 3, both.tokens());
            assertEquals(a.tokens() + b.tokens(), both.tokens());
            assertEquals(a.sum() + b.sum(), both.sum(), 1e-4);
        }
    }

    @Test
    void theShiftPredictsEachLabelFromThePreviousPositionOfTheSameExample() {
        long[] targets = TokenLoss.shiftedTargets(packed());
        assertEquals(List.of((long) I, (long) I, 41L, 9L, 100L, (long) I, 6L, 77L, 300L, (long) I, (long) I, (long) I),
                java.util.Arrays.stream(targets).boxed().toList());
    }

    @Test
    void loraGradientsMatchFiniteDifferences() {
        AdapterConfig config = AdapterConfig.forTraining(2, 4, 0, List.of("q_proj", "v_proj", "down_proj"), false, "tiny");
        try (Adapter adapter = Adapter.create(model, config, 1)) {
            model.attach(adapter);
            Map<String, Tensor> params = adapter.parameters();
            try (NoGradGuard g = new NoGradGuard(); PointerScope s = new PointerScope()) {
                torch.manual_seed(2);
                for (Map.Entry<String, Tensor> e : params.entrySet()) {
                    if (e.getKey().endsWith("lora_B")) {
                        e.getValue().copy_(torch.randn(Tensors.shape(e.getValue())).mul(Tensors.scalar(0.5)));
                    }
                }
            }
            Batch batch = packed();
            try (PointerScope s = new PointerScope()) {
                TokenLoss.backward(model, batch, 1);
            }
            int checked = 0;
            for (String name : List.of("model.layers.0.self_attn.q_proj.lora_A", "model.layers.1.self_attn.v_proj.lora_B",
                    "model.layers.0.mlp.down_proj.lora_A", "model.layers.1.mlp.down_proj.lora_B")) {
                Tensor p = params.get(name);
                float[] grad = Tensors.toFloats(p.grad());
                FloatPointer data = p.data_ptr_float();
                for (int index : new int[] {0, 7, grad.length - 1}) {
                    float original = data.get(index);
                    double eps = 1e-2;
                    data.put(index, (float) (original + eps));
                    double plus = loss(batch);
                    data.put(index, (float) (original - eps));
                    double minus = loss(batch);
                    data.put(index, original);
                    double numeric = (plus - minus) / (2 * eps);
                    assertEquals(numeric, grad[index], 2e-3 + 2e-2 * Math.abs(numeric), name + "[" + index + "]");
                    checked++;
                }
            }
            assertEquals(12, checked);
            assertTrue(Math.abs(Tensors.toFloats(params.get("model.layers.0.self_attn.q_proj.lora_A").grad())[0]) > 0);
            model.detachAdapter();
        }
    }

    @Test
    void gradientsAcrossSeveralLogitChunksMatchFiniteDifferences() {
        int n = 600; // more trained positions than one chunk of logits
        long[] ids = new long[n];
        long[] positions = new long[n];
        int[] segments = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 3 + (i * 37L) % 500;
            positions[i] = i;
            segments[i] = 1;
        }
        Batch batch = new Batch(1, n, ids, ids.clone(), positions, segments, 1);
        AdapterConfig config = AdapterConfig.forTraining(2, 4, 0, List.of("o_proj"), false, "tiny");
        try (Adapter adapter = Adapter.create(model, config, 3)) {
            model.attach(adapter);
            checkAgainstFiniteDifferences(adapter, batch, n);
        } finally {
            model.detachAdapter();
        }
    }

    /**
     * Full fine-tuning: every weight, the embedding included (tied to the lm_head, so its gradient comes
     * both from the logits and from below the first layer), gets the gradient of finite differences.
     */
    @Test
    void fullFineTuningGradientsMatchFiniteDifferences() {
        try (Model full = Model.load(TrainingFixtures.tinyModel(tmp.resolve("tiny")), Device.CPU, DType.F32);
             FullWeights weights = FullWeights.of(full)) {
            Batch batch = packed();
            try (PointerScope s = new PointerScope()) {
                TokenLoss.backward(full, batch, 1);
            }
            Map<String, Tensor> params = weights.parameters();
            int hidden = full.config.hiddenSize();
            Map<String, int[]> entries = Map.of(
                    "model.embed_tokens.weight", new int[] {17 * hidden + 3, 5 * hidden}, // tokens of the batch
                    "model.layers.0.input_layernorm.weight", new int[] {0, hidden - 1},
                    "model.layers.0.self_attn.q_proj_fused.weight", new int[] {1, 9 * hidden + 2},
                    "model.layers.1.self_attn.o_proj.weight", new int[] {4});
            for (Map.Entry<String, int[]> e : entries.entrySet()) {
                Tensor p = params.get(e.getKey());
                float[] grad = Tensors.toFloats(p.grad());
                FloatPointer data = p.data_ptr_float();
                for (int index : e.getValue()) {
                    float original = data.get(index);
                    double eps = 1e-2;
                    data.put(index, (float) (original + eps));
                    double plus = loss(full, batch);
                    data.put(index, (float) (original - eps));
                    double minus = loss(full, batch);
                    data.put(index, original);
                    double numeric = (plus - minus) / (2 * eps);
                    assertTrue(Math.abs(numeric) > 1e-3, e.getKey() + "[" + index + "]: a gradient too small to tell anything: " + numeric);
                    assertEquals(numeric, grad[index], 2e-3 + 2e-2 * Math.abs(numeric), e.getKey() + "[" + index + "]");
                }
            }
        }
    }

    private static void checkAgainstFiniteDifferences(Adapter adapter, Batch batch, int n) {
        Tensor b = adapter.parameters().get("model.layers.1.self_attn.o_proj.lora_B");
        try (PointerScope s = new PointerScope()) {
            TokenLoss.Result r = TokenLoss.backward(model, batch, 1);
            assertEquals(n - 1, r.tokens());
        }
        float[] grad = Tensors.toFloats(b.grad());
        FloatPointer data = b.data_ptr_float();
        for (int index : new int[] {0, 5}) {
            float original = data.get(index);
            data.put(index, original + 0.01f);
            double plus = loss(batch);
            data.put(index, original - 0.01f);
            double minus = loss(batch);
            data.put(index, original);
            double numeric = (plus - minus) / 0.02;
            assertTrue(Math.abs(numeric) > 1e-3, "a gradient too small to tell anything: " + numeric);
            assertEquals(numeric, grad[index], 5e-3 + 2e-2 * Math.abs(numeric), "lora_B[" + index + "]");
        }
    }

    private static double loss(Batch batch) {
        return loss(model, batch);
    }

    private static double loss(Model model, Batch batch) {
        try (NoGradGuard g = new NoGradGuard(); PointerScope s = new PointerScope()) {
            return TokenLoss.evaluate(model, batch).sum();
        }
    }
}
