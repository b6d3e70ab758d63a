package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.Json;
import dev.tailor.JsonArrays;
import dev.tailor.TailorException;
import dev.tailor.data.GeneratedModel;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.SafetensorsFile;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Merging an adapter into its base: the weights as W + scaling * B @ A, and the merged model's behaviour. */
class MergerTest {
    static final int[] TOKENS = {5, 99, 311, 2, 47, 480, 13, 256, 77, 1, 402, 60, 8};
    static final String K_PROJ = "model.layers.1.self_attn.k_proj";

    @TempDir
    static Path tmp;
    static Path f32Base;
    static Path bf16Base;
    static Path f32Adapter;
    static Path bf16Adapter;

    @BeforeAll
    static void baseModelsAndAdapters() {
        Engine.ensureConfigured();
        f32Base = tmp.resolve("base-f32");
        bf16Base = tmp.resolve("base-bf16");
        GeneratedModel.write(f32Base, ModelPreset.TINY, 21, DType.F32);
        GeneratedModel.write(bf16Base, ModelPreset.TINY, 22, DType.BF16);
        f32Adapter = writeAdapter(f32Base, tmp.resolve("adapter-f32"), false);
        bf16Adapter = writeAdapter(bf16Base, tmp.resolve("adapter-bf16"), true);
    }

    /** An all-linear adapter with random non-zero B (alpha 16, r 8, so scaling 2; or rsLoRA). */
    static Path writeAdapter(Path base, Path dir, boolean rslora) {
        try (Model model = Model.load(base, Device.CPU, null);
             Adapter adapter = Adapter.create(model, AdapterConfig.forTraining(8, 16, 0, List.of("all-linear"), rslora, base.toString()), 9)) {
            AdapterTrainingTest.randomizeB(adapter, 10, 0.05);
            adapter.save(dir);
        }
        return dir;
    }

    static double[] logprobs(Path modelDir, Path adapterDir, DType dtype) {
        try (Model model = Model.load(modelDir, Device.CPU, dtype)) {
            if (adapterDir == null) {
                return model.logprobs(TOKENS);
            }
            try (Adapter adapter = Adapter.load(adapterDir, model)) {
                model.attach(adapter);
                return model.logprobs(TOKENS);
            }
        }
    }

    static double maxAbsDifference(double[] a, double[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    @Test
    void anF32MergeBehavesAsBasePlusAdapter() {
        Path out = tmp.resolve("merged-f32");
        Merger.MergeReport report = Merger.merge(f32Base, f32Adapter, out, null);
        assertEquals(DType.F32, report.dtype());
        assertEquals(14, report.tensorsMerged());
        assertTrue(report.maxAbsDifference() < 1e-3, "parity " + report.maxAbsDifference());
        assertTrue(report.maxAbsAdapterEffect() > 0.05, "the adapter must matter for parity to mean anything");

        double[] unmerged = logprobs(f32Base, f32Adapter, null);
        double[] merged = logprobs(out, null, null);
        assertTrue(maxAbsDifference(unmerged, merged) < 1e-4, "merged vs unmerged " + maxAbsDifference(unmerged, merged));
        assertTrue(maxAbsDifference(logprobs(f32Base, null, null), merged) > 0.05, "the merged model must differ from the base");

        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        assertEquals("float32", Json.readTree(out.resolve("config.json")).get("torch_dtype").asText());
    }

    @Test
    void mergedWeightsAreWPlusScalingTimesBA() {
        Path out = tmp.resolve("merged-weights-f32");
        Merger.merge(f32Base, f32Adapter, out, DType.F32);
        checkMergedWeight(f32Base, f32Adapter, out, 2.0, DType.F32);
    }

    @Test
    void aBf16MergeRoundsOnceAndKeepsParity() throws IOException {
        Path out = tmp.resolve("merged-bf16");
        Merger.MergeReport report = Merger.merge(bf16Base, bf16Adapter, out, null);
        assertEquals(DType.BF16, report.dtype());
        assertTrue(report.roundingCost() > 0, "bf16 rounding shows");
        assertEquals(Math.max(Merger.HALF_TOLERANCE, Merger.ROUNDING_FACTOR * report.roundingCost()), report.tolerance());
        assertTrue(report.maxAbsDifference() > 0 && report.maxAbsDifference() <= report.tolerance(),
                "parity " + report.maxAbsDifference() + ", tolerance " + report.tolerance());
        // independently: the merged bf16 model against base + adapter in fp32, on other tokens
        double[] exact = logprobs(bf16Base, bf16Adapter, DType.F32);
        assertTrue(maxAbsDifference(exact, logprobs(out, null, null)) <= report.tolerance());
        assertEquals("bfloat16", Json.readTree(out.resolve("config.json")).get("torch_dtype").asText());
        checkMergedWeight(bf16Base, bf16Adapter, out, 16 / Math.sqrt(8), DType.BF16);
        // weights the adapter does not touch are copied bit for bit
        try (SafetensorsFile base = SafetensorsFile.open(bf16Base.resolve("model.safetensors"));
             SafetensorsFile merged = SafetensorsFile.open(out.resolve("model.safetensors"));
             PointerScope scope = new PointerScope()) {
            assertEquals(base.names(), merged.names());
            for (String name : List.of("model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.bias")) {
                assertArrayEquals(Tensors.toFloats(base.load(name)), Tensors.toFloats(merged.load(name)), name);
            }
        }
    }

    @Test
    void aBf16BaseMergesIntoF32OnRequest() {
        Path out = tmp.resolve("merged-bf16-as-f32");
        Merger.MergeReport report = Merger.merge(bf16Base, bf16Adapter, out, DType.F32);
        assertTrue(report.maxAbsDifference() < 1e-3, "parity " + report.maxAbsDifference());
        checkMergedWeight(bf16Base, bf16Adapter, out, 16 / Math.sqrt(8), DType.F32);
    }

    /**
     * The reference fixture's adapter (large: it moves logprobs by up to 5) merged, against the
     * float64 NumPy implementation of base + adapter. In bf16 that model is as noisy unmerged as
     * merged, which a fixed bf16 tolerance would have refused.
     */
    @Test
    void theReferenceAdapterMergesToTheFloat64ReferenceLogprobs() {
        Path fixture = ReferenceLogprobsTest.CASES.resolve("qwen2-lora");
        com.fasterxml.jackson.databind.JsonNode expected = Json.readTree(fixture.resolve("expected.json"));
        Path out = tmp.resolve("merged-qwen2-lora");
        Merger.MergeReport report = Merger.merge(fixture.resolve("model"), fixture.resolve("adapter"), out, DType.F32);
        assertEquals(14, report.tensorsMerged());
        try (Model merged = Model.load(out, Device.CPU, null)) {
            for (com.fasterxml.jackson.databind.JsonNode seq : expected.get("sequences")) {
                double[] want = JsonArrays.doubles(seq.get("logprobs"));
                double[] got = merged.logprobs(JsonArrays.ints(seq.get("token_ids")));
                assertTrue(maxAbsDifference(want, got) < 1e-3, "merged vs float64 reference: " + maxAbsDifference(want, got));
            }
        }
        Merger.MergeReport bf16 = Merger.merge(fixture.resolve("model"), fixture.resolve("adapter"), tmp.resolve("merged-qwen2-lora-bf16"), DType.BF16);
        assertTrue(bf16.roundingCost() > 0.1, "rounding cost " + bf16.roundingCost());
        assertTrue(bf16.maxAbsDifference() <= bf16.tolerance());
    }

    /** One adapted weight recomputed with plain loops from the files: W + scaling * sum_k B[i][k] A[k][j]. */
    static void checkMergedWeight(Path baseDir, Path adapterDir, Path mergedDir, double scaling, DType dtype) {
        try (SafetensorsFile base = SafetensorsFile.open(baseDir.resolve("model.safetensors"));
             SafetensorsFile adapter = SafetensorsFile.open(adapterDir.resolve("adapter_model.safetensors"));
             SafetensorsFile merged = SafetensorsFile.open(mergedDir.resolve("model.safetensors"));
             PointerScope scope = new PointerScope()) {
            assertEquals(dtype, merged.entry(K_PROJ + ".weight").dtype());
            float[] w = Tensors.toFloats(base.load(K_PROJ + ".weight"));
            float[] a = Tensors.toFloats(adapter.load("base_model.model." + K_PROJ + ".lora_A.weight"));
            float[] b = Tensors.toFloats(adapter.load("base_model.model." + K_PROJ + ".lora_B.weight"));
            float[] got = Tensors.toFloats(merged.load(K_PROJ + ".weight"));
            int out = 32;
            int in = 64;
            int r = 8;
            assertEquals(out * in, got.length);
            double largestDelta = 0;
            for (int i = 0; i < out; i++) {
                for (int j = 0; j < in; j++) {
                    double delta = 0;
                    for (int k = 0; k < r; k++) {
                        delta += (double) b[i * r + k] * a[k * in + j];
                    }
                    double expected = w[i * in + j] + scaling * delta;
                    largestDelta = Math.max(largestDelta, Math.abs(scaling * delta));
                    // fp32: summation order only; bf16: one rounding to 8 mantissa bits (half an ulp) plus that
                    double tolerance = dtype == DType.F32 ? 1e-6 : Math.ulp((float) expected) * 65536;
                    assertEquals(expected, got[i * in + j], tolerance, "[" + i + "][" + j + "]");
                }
            }
            assertTrue(largestDelta > 0.01, "the adapter's update must be visible next to the tolerance: " + largestDelta);
        }
    }

    @Test
    void aMergeThatFailsParityLeavesNothingBehind() throws IOException {
        Path out = tmp.resolve("refused");
        TailorException e = assertThrows(TailorException.class, () -> Merger.merge(f32Base, f32Adapter, out, DType.F32, 1e-12));
        assertTrue(e.getMessage().contains("nothing was written to " + out), e.getMessage());
        assertFalse(Files.exists(out));
        assertEquals(Set.of(), siblingsOf(out));

        // an earlier output stays as it was
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "earlier");
        assertThrows(TailorException.class, () -> Merger.merge(f32Base, f32Adapter, out, DType.F32, 1e-12));
        assertEquals("earlier", Files.readString(out.resolve("keep.txt")));
        assertEquals(Set.of("keep.txt"), list(out));
        assertEquals(Set.of(), siblingsOf(out));

        // and a merge that passes replaces it completely
        Merger.merge(f32Base, f32Adapter, out, DType.F32);
        assertFalse(Files.exists(out.resolve("keep.txt")));
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertEquals(Set.of(), siblingsOf(out));
    }

    @Test
    void theInputsCannotBeTheOutput() {
        TailorException e = assertThrows(TailorException.class, () -> Merger.merge(f32Base, f32Adapter, f32Base, null));
        assertTrue(e.getMessage().contains("would replace"), e.getMessage());
        assertThrows(TailorException.class, () -> Merger.merge(f32Base, f32Adapter, tmp, null));
        assertTrue(Files.isRegularFile(f32Base.resolve("model.safetensors")));
    }

    @Test
    void theAdaptersChatTemplateTravelsWithTheMergedModel() throws IOException {
        Path adapter = tmp.resolve("adapter-with-template");
        writeAdapter(f32Base, adapter, false);
        Files.writeString(adapter.resolve("chat_template.jinja"), "{{ messages[0]['content'] }}");
        Path out = tmp.resolve("merged-with-template");
        Merger.merge(f32Base, adapter, out, null);
        assertEquals("{{ messages[0]['content'] }}", Files.readString(out.resolve("chat_template.jinja")));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json")) {
            assertEquals(Files.readString(f32Base.resolve(f)), Files.readString(out.resolve(f)), f);
        }
    }

    /** Temporary directories a merge may have left next to {@code out}. */
    static Set<String> siblingsOf(Path out) throws IOException {
        return list(out.getParent()).stream().filter(n -> n.startsWith("." + out.getFileName())).collect(Collectors.toSet());
    }

    static Set<String> list(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }
}
