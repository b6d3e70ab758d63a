package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.GeneratedModel;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.SafetensorsEntry;
import dev.tailor.tensor.SafetensorsFile;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fresh trainable adapters (PEFT's initialisation) and their export in PEFT format. */
class AdapterTrainingTest {
    /** The tiny preset: hidden 64, intermediate 176, 4 query heads and 2 kv heads of 16 dims, 2 layers. */
    static final Map<String, long[]> TINY_IN_OUT = Map.of("q_proj", new long[] {64, 64}, "k_proj", new long[] {64, 32},
            "v_proj", new long[] {64, 32}, "o_proj", new long[] {64, 64}, "gate_proj", new long[] {64, 176},
            "up_proj", new long[] {64, 176}, "down_proj", new long[] {176, 64});
    static final int[] TOKENS = {1, 17, 300, 42, 7, 255, 90, 3, 500, 64, 128, 11};

    @TempDir
    static Path tmp;
    static Model model;

    @BeforeAll
    static void load() {
        Engine.ensureConfigured();
        GeneratedModel.write(tmp.resolve("tiny"), ModelPreset.TINY, 11, DType.F32);
        model = Model.load(tmp.resolve("tiny"), Device.CPU, null);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static AdapterConfig config(int r, List<String> targets) {
        return AdapterConfig.forTraining(r, 16, 0.05, targets, false, "tailor-test/tiny");
    }

    /** Sets every B to N(0, std) values from a seeded Java Random, so the adapter changes the model. */
    static void randomizeB(Adapter adapter, long seed, double std) {
        Random random = new Random(seed);
        try (PointerScope scope = new PointerScope()) {
            for (LoraWeights w : adapter.modules().values()) {
                float[] values = new float[(int) w.b().numel()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (random.nextGaussian() * std);
                }
                w.b().detach().copy_(Tensors.fromFloats(values, w.b().size(0), w.b().size(1)));
            }
        }
    }

    @Test
    void aFreshAdapterLeavesTheModelExactlyAsItWas() {
        double[] base = model.logprobs(TOKENS);
        try (Adapter adapter = Adapter.create(model, config(8, List.of("all-linear")), 1)) {
            for (LoraWeights w : adapter.modules().values()) {
                for (float v : Tensors.toFloats(w.b())) {
                    assertEquals(0f, v);
                }
            }
            model.attach(adapter);
            try {
                // B = 0 adds exact zeros; only the memory layout of q/k/v changes (a contiguous sum instead of
                // a view of the fused product), which can change attention's float summation order
                assertArrayEquals(base, model.logprobs(TOKENS), 1e-5);
            } finally {
                model.detachAdapter();
            }
        }
    }

    @Test
    void aIsKaimingUniformSeededAndEveryFactorIsTrainable() {
        try (Adapter one = Adapter.create(model, config(8, List.of("all-linear")), 1);
             Adapter same = Adapter.create(model, config(8, List.of("all-linear")), 1);
             Adapter other = Adapter.create(model, config(8, List.of("all-linear")), 2);
             Adapter qOnly = Adapter.create(model, config(8, List.of("q_proj")), 1)) {
            assertEquals(14, one.modules().size());
            double sumOfSquares = 0;
            long count = 0;
            double maxRatio = 0;
            for (Map.Entry<String, LoraWeights> e : one.modules().entrySet()) {
                String module = e.getKey();
                long[] inOut = TINY_IN_OUT.get(module.substring(module.lastIndexOf('.') + 1));
                LoraWeights w = e.getValue();
                assertArrayEquals(new long[] {8, inOut[0]}, Tensors.shape(w.a()), module);
                assertArrayEquals(new long[] {inOut[1], 8}, Tensors.shape(w.b()), module);
                assertTrue(w.a().requires_grad() && w.b().requires_grad(), module);
                assertEquals(DType.F32, Tensors.dtype(w.a()));
                assertEquals(2.0, w.scaling(), 1e-12); // alpha 16 / r 8
                double bound = 1 / Math.sqrt(inOut[0]);
                for (float v : Tensors.toFloats(w.a())) {
                    assertTrue(Math.abs(v) <= bound * (1 + 1e-6), module + ": " + v + " outside +-" + bound);
                    sumOfSquares += (v / bound) * (v / bound);
                    maxRatio = Math.max(maxRatio, Math.abs(v) / bound);
                    count++;
                }
                assertArrayEquals(Tensors.toFloats(w.a()), Tensors.toFloats(same.modules().get(module).a()), module);
                assertFalse(Arrays.equals(Tensors.toFloats(w.a()), Tensors.toFloats(other.modules().get(module).a())), module);
            }
            // U(-1, 1) has variance 1/3 and fills its range
            assertEquals(1.0 / 3, sumOfSquares / count, 0.01);
            assertTrue(maxRatio > 0.99, "max |A| / bound = " + maxRatio);
            // a layer's A does not depend on which other layers are targeted
            String q0 = "model.layers.0.self_attn.q_proj";
            assertArrayEquals(Tensors.toFloats(one.modules().get(q0).a()), Tensors.toFloats(qOnly.modules().get(q0).a()));

            long expected = 0; // r * (in + out) per adapted layer, 2 layers
            for (long[] inOut : TINY_IN_OUT.values()) {
                expected += 2 * 8 * (inOut[0] + inOut[1]);
            }
            assertEquals(18688, expected);
            assertEquals(expected, one.parameterCount());
            Map<String, Tensor> params = one.parameters();
            assertEquals(28, params.size());
            assertTrue(params.get(q0 + ".lora_A") == one.modules().get(q0).a());
            assertTrue(params.get(q0 + ".lora_B") == one.modules().get(q0).b());
        }
    }

    @Test
    void aSavedAdapterLoadsBackToTheSameLogprobs() {
        Path dir = tmp.resolve("saved");
        double[] inMemory;
        double[] base = model.logprobs(TOKENS);
        try (Adapter adapter = Adapter.create(model, config(8, List.of("all-linear")), 3)) {
            randomizeB(adapter, 4, 0.05);
            model.attach(adapter);
            try {
                inMemory = model.logprobs(TOKENS);
            } finally {
                model.detachAdapter();
            }
            adapter.save(dir);
        }
        double effect = 0;
        for (int i = 0; i < base.length; i++) {
            effect = Math.max(effect, Math.abs(base[i] - inMemory[i]));
        }
        assertTrue(effect > 0.05, "the adapter should change the model; max change " + effect);
        try (Adapter loaded = Adapter.load(dir, model)) {
            model.attach(loaded);
            try {
                double[] reloaded = model.logprobs(TOKENS);
                for (int i = 0; i < inMemory.length; i++) {
                    assertEquals(inMemory[i], reloaded[i], 1e-6, "logprob " + i);
                }
            } finally {
                model.detachAdapter();
            }
        }
    }

    @Test
    void savesThePeftKeysAndTheConfigPeftWrites() throws IOException {
        Path dir = tmp.resolve("q-v");
        try (Adapter adapter = Adapter.create(model, config(8, List.of("v_proj", "q_proj")), 5)) {
            assertNull(adapter.directory);
            adapter.save(dir);
        }
        Set<String> expectedKeys = new TreeSet<>();
        for (int layer = 0; layer < 2; layer++) {
            for (String m : List.of("q_proj", "v_proj")) {
                for (String ab : List.of("A", "B")) {
                    expectedKeys.add("base_model.model.model.layers." + layer + ".self_attn." + m + ".lora_" + ab + ".weight");
                }
            }
        }
        try (SafetensorsFile file = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(expectedKeys, new TreeSet<>(file.names()));
            SafetensorsEntry a = file.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
            SafetensorsEntry b = file.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new long[] {8, 64}, a.shape());
            assertArrayEquals(new long[] {32, 8}, b.shape());
            assertEquals("pt", file.metadata().get("format"));
        }
        // byte for byte what Python's json.dumps(indent=2, sort_keys=True) gives for PEFT's LoraConfig
        String golden = Files.readString(Path.of("src/test/resources/peft/adapter_config.json"));
        String written = Files.readString(dir.resolve("adapter_config.json"));
        assertEquals(golden, written);

        JsonNode c = Json.readTree(dir.resolve("adapter_config.json"));
        List<String> keys = new ArrayList<>();
        c.fieldNames().forEachRemaining(keys::add);
        assertEquals(new ArrayList<>(new TreeSet<>(keys)), keys, "keys are sorted");
        assertEquals("LORA", c.get("peft_type").asText());
        assertEquals("CAUSAL_LM", c.get("task_type").asText());
        assertEquals(8, c.get("r").asInt());
        assertTrue(c.get("lora_alpha").isIntegralNumber());
        assertEquals(16, c.get("lora_alpha").asInt());
        assertEquals(0.05, c.get("lora_dropout").asDouble());
        assertEquals("[\"q_proj\",\"v_proj\"]", c.get("target_modules").toString());
        assertEquals("none", c.get("bias").asText());
        assertFalse(c.get("use_rslora").asBoolean());
        assertFalse(c.get("use_dora").asBoolean());
        assertTrue(c.get("modules_to_save").isNull());
        assertTrue(c.get("inference_mode").asBoolean());
        assertTrue(c.get("rank_pattern").isObject() && c.get("rank_pattern").isEmpty());
        assertEquals("tailor-test/tiny", c.get("base_model_name_or_path").asText());
    }

    @Test
    void allLinearIsSavedAsTheShortNamesAndRsLoraScalesBySqrtR() {
        Path dir = tmp.resolve("all-linear-bf16");
        AdapterConfig rs = AdapterConfig.forTraining(16, 8, 0, List.of("all-linear"), true, "tailor-test/tiny");
        try (Adapter adapter = Adapter.create(model, rs, 1)) {
            adapter.modules().values().forEach(w -> assertEquals(8 / 4.0, w.scaling(), 1e-12)); // alpha / sqrt(16)
            adapter.save(dir, DType.BF16);
        }
        JsonNode c = Json.readTree(dir.resolve("adapter_config.json"));
        assertEquals("[\"down_proj\",\"gate_proj\",\"k_proj\",\"o_proj\",\"q_proj\",\"up_proj\",\"v_proj\"]",
                c.get("target_modules").toString());
        assertTrue(c.get("use_rslora").asBoolean());
        try (SafetensorsFile file = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(28, file.names().size());
            file.entries().forEach(e -> assertEquals(DType.BF16, e.dtype(), e.name()));
        }
        try (Adapter loaded = Adapter.load(dir, model)) {
            assertEquals(14, loaded.modules().size());
            loaded.modules().values().forEach(w -> assertEquals(2.0, w.scaling(), 1e-12));
        }
    }

    @Test
    void aFullModuleNameTargetsThatLayerOnly() {
        try (Adapter adapter = Adapter.create(model, config(4, List.of("model.layers.1.mlp.down_proj")), 1)) {
            assertEquals(Set.of("model.layers.1.mlp.down_proj"), adapter.modules().keySet());
            assertEquals(4 * (176 + 64), adapter.parameterCount());
        }
    }

    @Test
    void unknownModulesAndRanksThatDoNotFitAreNamed() {
        TailorException unknown = assertThrows(TailorException.class,
                () -> Adapter.create(model, config(8, List.of("q_proj", "qkv_proj")), 1));
        assertTrue(unknown.getMessage().contains("'qkv_proj'"), unknown.getMessage());
        assertTrue(unknown.getMessage().contains("q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"), unknown.getMessage());

        // k_proj maps 64 -> 32: rank 33 cannot fit, 32 can
        TailorException tooLarge = assertThrows(TailorException.class,
                () -> Adapter.create(model, config(33, List.of("q_proj", "k_proj")), 1));
        assertTrue(tooLarge.getMessage().contains("model.layers.0.self_attn.k_proj"), tooLarge.getMessage());
        assertTrue(tooLarge.getMessage().contains("between 1 and 32"), tooLarge.getMessage());
        Adapter.create(model, config(32, List.of("k_proj")), 1).close();

        assertThrows(TailorException.class, () -> config(0, List.of("q_proj")));
        assertThrows(TailorException.class, () -> config(8, List.of()));
    }

    @Test
    void weightsThatAreNotFiniteAreNotExported() {
        Path dir = tmp.resolve("diverged");
        try (Adapter adapter = Adapter.create(model, config(4, List.of("o_proj")), 1);
             PointerScope scope = new PointerScope()) {
            adapter.modules().get("model.layers.1.self_attn.o_proj").b().detach().fill_(Tensors.scalar(Double.NaN));
            TailorException e = assertThrows(TailorException.class, () -> adapter.save(dir));
            assertTrue(e.getMessage().contains("model.layers.1.self_attn.o_proj.lora_B") && e.getMessage().contains("NaN"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("adapter_model.safetensors")));
        assertFalse(Files.exists(dir.resolve("adapter_config.json")));
    }
}
