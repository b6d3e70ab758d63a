package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.JsonArrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The golden file was written by src/test/python/make_safetensors_fixtures.py (numpy + struct), not by
 * our writer; golden.json holds the values the script used.
 */
class SafetensorsGoldenTest {
    private static final Path GOLDEN = GoldenJson.resource("safetensors/golden.safetensors");
    private static final JsonNode EXPECTED = Json.readTree(GoldenJson.resource("safetensors/golden.json"));

    @Test
    void readsEveryTensorWithTheValuesThePythonScriptWrote() {
        try (SafetensorsFile file = SafetensorsFile.open(GOLDEN)) {
            assertEquals(names(EXPECTED.get("tensors")), file.names().toString());
            for (Map.Entry<String, JsonNode> e : EXPECTED.get("tensors").properties()) {
                String name = e.getKey();
                JsonNode expected = e.getValue();
                SafetensorsEntry entry = file.entry(name);
                assertEquals(expected.get("dtype").textValue(), entry.dtype().safetensorsName, name);
                assertArrayEquals(JsonArrays.longs(expected.get("shape")), entry.shape(), name);
                Tensor tensor = file.load(name);
                assertEquals(entry.dtype(), Tensors.dtype(tensor), name);
                assertArrayEquals(entry.shape(), Tensors.shape(tensor), name);
                if (tensor.numel() == 0) {
                    assertEquals(0, expected.get("values").size(), name); // Tensors.toFloats cannot read empty tensors
                } else if (entry.dtype().isFloatingPoint()) {
                    assertArrayEquals(JsonArrays.floats(expected.get("values")), Tensors.toFloats(tensor), name);
                } else {
                    assertArrayEquals(JsonArrays.longs(expected.get("values")), Tensors.toLongs(tensor), name);
                }
            }
            assertEquals(Json.MAPPER.convertValue(EXPECTED.get("metadata"), Map.class), file.metadata());
        }
    }

    @Test
    void bf16IsTheTopHalfOfTheF32Bits() {
        try (SafetensorsFile file = SafetensorsFile.open(GOLDEN)) {
            Tensor bf16 = file.load("bf16");
            short[] bits = new short[(int) bf16.numel()];
            new ShortPointer(bf16.data_ptr()).get(bits);
            float[] decoded = new float[bits.length];
            for (int i = 0; i < bits.length; i++) {
                decoded[i] = Float.intBitsToFloat((bits[i] & 0xFFFF) << 16);
            }
            float[] expected = JsonArrays.floats(EXPECTED.get("tensors").get("bf16").get("values"));
            assertArrayEquals(expected, decoded);
            assertArrayEquals(expected, Tensors.toFloats(file.load("bf16", DType.F32)));
        }
    }

    @Test
    void convertsF16OnLoad() {
        float[] expected = JsonArrays.floats(EXPECTED.get("tensors").get("f16").get("values"));
        try (SafetensorsFile file = SafetensorsFile.open(GOLDEN)) {
            Tensor f32 = file.load("f16", DType.F32);
            assertEquals(DType.F32, Tensors.dtype(f32));
            assertArrayEquals(expected, Tensors.toFloats(f32));
            Tensor bf16 = file.load("f16", DType.BF16);
            assertEquals(DType.BF16, Tensors.dtype(bf16));
            // 65504 is not a bf16 value: it rounds to 65536
            assertArrayEquals(new float[] {0.5f, -1.0f, 65536.0f}, Tensors.toFloats(bf16));
        }
    }

    @Test
    void javaWriterReproducesThePythonBytesExactly(@TempDir Path dir) throws Exception {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : EXPECTED.get("tensors").properties()) {
            tensors.put(e.getKey(), tensor(e.getValue()));
        }
        Map<String, String> metadata = new TreeMap<>(Json.MAPPER.convertValue(EXPECTED.get("metadata"), Map.class));
        metadata.remove("format"); // the writer adds it by itself
        Path written = dir.resolve("java.safetensors");

        SafetensorsWriter.write(written, tensors, metadata);

        assertArrayEquals(Files.readAllBytes(GOLDEN), Files.readAllBytes(written));
    }

    private static Tensor tensor(JsonNode spec) {
        DType dtype = DType.ofSafetensors(spec.get("dtype").textValue());
        long[] shape = JsonArrays.longs(spec.get("shape"));
        Tensor values = dtype.isFloatingPoint()
                ? Tensors.fromFloats(JsonArrays.floats(spec.get("values")), shape)
                : Tensors.fromLongs(JsonArrays.longs(spec.get("values")), shape);
        return values.to(dtype.scalarType());
    }

    private static String names(JsonNode tensors) {
        return new TreeSet<>(Json.MAPPER.convertValue(tensors, Map.class).keySet()).toString();
    }


}
