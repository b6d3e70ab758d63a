package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.JsonArrays;
import dev.tailor.tensor.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter as Tailor saves it, applied by an independent implementation of PEFT's math
 * (src/test/python/reference_model.py via make_tailor_adapter_golden.py), gives the
 * log-probabilities Tailor computes with it. The committed adapter files are byte for byte what
 * the current writer produces, so the golden values keep describing Tailor's own output.
 */
class TailorSavedAdapterTest {
    static final Path CASE = Path.of("src/test/resources/tailor-saved-adapter");
    static final Path BASE = Path.of("src/test/resources/reference-models/qwen2-bias-tied-f32/model");

    @TempDir
    Path tmp;

    /** A fresh rank-4 adapter on every linear layer whose B factors are set to fixed non-zero values, as training would. */
    static Adapter trainedStandIn(Model model) {
        Adapter adapter = Adapter.create(model, AdapterConfig.forTraining(4, 8, 0.05, List.of("all-linear"), true, "qwen2-bias-tied-f32"), 7);
        int k = 0;
        for (Map.Entry<String, Tensor> p : adapter.parameters().entrySet()) {
            if (p.getKey().endsWith("lora_B")) {
                FloatPointer data = p.getValue().data_ptr_float();
                for (long i = 0; i < p.getValue().numel(); i++, k++) {
                    data.put(i, (float) (0.08 * Math.sin(0.37 * k + 1.0)));
                }
            }
        }
        return adapter;
    }

    @Test
    void theSavedFilesAreWhatTheWriterProduces() throws IOException {
        try (Model model = Model.load(BASE, Device.CPU, null); Adapter adapter = trainedStandIn(model)) {
            adapter.save(tmp);
        }
        for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
            assertArrayEquals(Files.readAllBytes(CASE.resolve("adapter").resolve(f)), Files.readAllBytes(tmp.resolve(f)), f);
        }
    }

    @Test
    void peftMathOnTheSavedAdapterGivesTailorsLogprobs() {
        JsonNode expected = Json.readTree(CASE.resolve("expected.json"));
        try (Model model = Model.load(BASE, Device.CPU, null); Adapter adapter = Adapter.load(CASE.resolve("adapter"), model)) {
            model.attach(adapter);
            for (JsonNode seq : expected.get("sequences")) {
                double[] got = model.logprobs(JsonArrays.ints(seq.get("token_ids")));
                for (int i = 0; i < got.length; i++) {
                    assertEquals(seq.get("logprobs").get(i).asDouble(), got[i], 1e-3, "logprob " + i);
                }
            }
        }
    }
}
