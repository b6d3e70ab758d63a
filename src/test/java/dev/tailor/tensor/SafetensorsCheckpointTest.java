package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsCheckpointTest {
    private static final String SHARD_1 = "model-00001-of-00002.safetensors";
    private static final String SHARD_2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    /** a, b: 40 bytes each; c: 60 bytes; d: 16 bytes. With an 80-byte limit: [a, b] and [c, d]. */
    private static Map<String, Tensor> weights() {
        return Map.of(
                "a", Tensors.fromFloats(range(10, 0), 10),
                "b", Tensors.fromFloats(range(10, 100), 10),
                "c", Tensors.fromFloats(range(30, 200), 30).to(DType.BF16.scalarType()),
                "d", Tensors.fromLongs(new long[] {7, -7}, 2));
    }

    @Test
    void shardedWriteReadsBackThroughTheIndex() throws IOException {
        SafetensorsWriter.writeSharded(dir, weights(), 80);

        assertEquals(List.of(SHARD_1, SHARD_2, SafetensorsCheckpoint.INDEX_FILE), fileNames());
        JsonNode index = Json.readTree(dir.resolve(SafetensorsCheckpoint.INDEX_FILE));
        assertEquals(156, index.get("metadata").get("total_size").longValue());
        assertEquals(Map.of("a", SHARD_1, "b", SHARD_1, "c", SHARD_2, "d", SHARD_2),
                Json.MAPPER.convertValue(index.get("weight_map"), Map.class));
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(List.of("a", "b", "c", "d"), List.copyOf(checkpoint.names()));
            assertEquals(DType.BF16, checkpoint.entry("c").dtype());
            assertArrayEquals(new long[] {30}, checkpoint.entry("c").shape());
            assertArrayEquals(range(10, 100), Tensors.toFloats(checkpoint.load("b", DType.F32)));
            Tensor c = checkpoint.load("c", DType.F32);
            assertEquals(DType.F32, Tensors.dtype(c));
            assertArrayEquals(range(30, 200), Tensors.toFloats(c));
            assertArrayEquals(new long[] {7, -7}, Tensors.toLongs(checkpoint.load("d", DType.I64)));
        }
    }

    @Test
    void everythingWithinOneShardIsWrittenAsModelSafetensors() throws IOException {
        SafetensorsWriter.writeSharded(dir, weights(), 1 << 20);

        assertEquals(List.of(SafetensorsCheckpoint.SINGLE_FILE), fileNames());
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(List.of("a", "b", "c", "d"), List.copyOf(checkpoint.names()));
            assertArrayEquals(range(10, 0), Tensors.toFloats(checkpoint.load("a", DType.F32)));
        }
    }

    @Test
    void aNewSaveReplacesAnEarlierSaveInTheOtherLayout() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{}");
        SafetensorsWriter.writeSharded(dir, weights(), 1 << 20);
        SafetensorsWriter.writeSharded(dir, weights(), 80);
        assertEquals(List.of("config.json", SHARD_1, SHARD_2, SafetensorsCheckpoint.INDEX_FILE), fileNames());

        SafetensorsWriter.writeSharded(dir, Map.of("only", Tensors.fromFloats(new float[] {9}, 1)), 80);

        assertEquals(List.of("config.json", SafetensorsCheckpoint.SINGLE_FILE), fileNames());
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertEquals(List.of("only"), List.copyOf(checkpoint.names()));
        }
    }

    @Test
    void missingShardNamesTheIndexAndTheShard() throws IOException {
        SafetensorsWriter.writeSharded(dir, weights(), 80);
        Files.delete(dir.resolve(SHARD_2));

        assertOpenFails(dir.resolve(SafetensorsCheckpoint.INDEX_FILE) + ": shard '" + SHARD_2 + "' does not exist");
    }

    @Test
    void tensorMissingFromItsShardIsRejected() throws IOException {
        SafetensorsWriter.writeSharded(dir, weights(), 80);
        writeIndex("{\"weight_map\":{\"a\":\"" + SHARD_2 + "\"}}");

        assertOpenFails("weight_map puts tensor 'a' in " + SHARD_2 + ", which does not contain it");
    }

    @Test
    void shardNamesMayNotLeaveTheModelDirectory() throws IOException {
        Path model = Files.createDirectory(dir.resolve("model"));
        Path outside = dir.resolve("outside.safetensors");
        SafetensorsWriter.write(outside, Map.of("a", Tensors.fromFloats(new float[] {1}, 1)), Map.of());

        for (String shard : List.of("../outside.safetensors", outside.toAbsolutePath().toString(), "x/../../outside.safetensors", ".")) {
            Files.writeString(model.resolve(SafetensorsCheckpoint.INDEX_FILE),
                    "{\"weight_map\":{\"a\":" + Json.compact(shard) + "}}");
            TailorException e = assertThrows(TailorException.class, () -> SafetensorsCheckpoint.open(model));
            assertTrue(e.getMessage().contains("shard '" + shard + "' is not a file inside the model directory"),
                    e.getMessage());
        }
    }

    @Test
    void emptyOrMalformedIndexIsRejected() throws IOException {
        writeIndex("{\"metadata\":{}}");
        assertOpenFails("\"weight_map\" is missing or empty");
        writeIndex("{\"weight_map\":{\"a\":1}}");
        assertOpenFails("weight_map entry 'a' is not a file name");
        writeIndex("{\"weight_map\":");
        assertOpenFails("invalid JSON");
    }

    @Test
    void directoryWithoutWeightsIsExplained() {
        TailorException e = assertThrows(TailorException.class, () -> SafetensorsCheckpoint.open(dir));
        assertEquals("no model.safetensors or model.safetensors.index.json in " + dir
                + "; is this a Hugging Face model directory?", e.getMessage());
    }

    @Test
    void unknownTensorNameIsAUserError() {
        SafetensorsWriter.writeSharded(dir, weights(), 80);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertFalse(checkpoint.names().contains("e"));
            TailorException e = assertThrows(TailorException.class, () -> checkpoint.entry("e"));
            assertTrue(e.getMessage().contains("no tensor named 'e'"), e.getMessage());
        }
    }

    private void assertOpenFails(String fragment) {
        TailorException e = assertThrows(TailorException.class, () -> SafetensorsCheckpoint.open(dir));
        assertTrue(e.getMessage().contains(dir.resolve(SafetensorsCheckpoint.INDEX_FILE).toString()), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
    }

    private void writeIndex(String json) throws IOException {
        Files.writeString(dir.resolve(SafetensorsCheckpoint.INDEX_FILE), json);
    }

    private List<String> fileNames() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static float[] range(int n, int start) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = start + i;
        }
        return values;
    }
}
