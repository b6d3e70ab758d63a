package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    @Test
    void roundTripsEveryDtypeLibtorchCanHold() {
        Map<String, Tensor> tensors = new TreeMap<>();
        for (DType dtype : DType.values()) {
            if (dtype != DType.U32 && dtype != DType.U64) {
                tensors.put(dtype.name(), Tensors.arange(24, Device.CPU).reshape(2, 3, 4).to(dtype.scalarType()));
            }
        }
        Path file = dir.resolve("all.safetensors");

        SafetensorsWriter.write(file, tensors, Map.of());

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(tensors.keySet(), read.names());
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                Tensor loaded = read.load(e.getKey());
                assertEquals(Tensors.dtype(e.getValue()), Tensors.dtype(loaded), e.getKey());
                assertArrayEquals(new long[] {2, 3, 4}, Tensors.shape(loaded), e.getKey());
                assertArrayEquals(bytes(e.getValue()), bytes(loaded), e.getKey());
            }
        }
    }

    @Test
    void writesNonContiguousTensorsInRowMajorOrder() {
        Tensor transposed = Tensors.fromFloats(new float[] {0, 1, 2, 3, 4, 5}, 2, 3).transpose(0, 1);
        Path file = dir.resolve("t.safetensors");

        SafetensorsWriter.write(file, Map.of("t", transposed), Map.of());

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            Tensor loaded = read.load("t");
            assertArrayEquals(new long[] {3, 2}, Tensors.shape(loaded));
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, Tensors.toFloats(loaded));
        }
    }

    @Test
    void streamsTensorsLargerThanTheCopyBuffer() {
        int n = 700_000; // 2.8 MB of F32: several chunks of the writer's 1 MiB buffer
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = i * 0.25f;
        }
        Path file = dir.resolve("big.safetensors");

        SafetensorsWriter.write(file, Map.of("big", Tensors.fromFloats(values, n)), Map.of());

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertArrayEquals(values, Tensors.toFloats(read.load("big")));
        }
    }

    @Test
    void headerIsPaddedAndMetadataAlwaysSaysFormatPt() throws IOException {
        Path file = dir.resolve("m.safetensors");

        SafetensorsWriter.write(file, Map.of("x", Tensors.fromFloats(new float[] {1}, 1)), Map.of("format", "np", "k", "v"));

        byte[] content = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(content).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8);
        assertEquals(8 + headerLength + 4, content.length);
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "k", "v"), read.metadata());
        }
    }

    @Test
    void overwritingLeavesOnlyTheNewFile() throws IOException {
        Path file = dir.resolve("w.safetensors");
        SafetensorsWriter.write(file, Map.of("a", Tensors.fromFloats(new float[] {1}, 1)), Map.of());

        SafetensorsWriter.write(file, Map.of("b", Tensors.fromFloats(new float[] {2, 3}, 2)), Map.of());

        assertEquals(List.of(file), filesIn(dir));
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(List.of("b"), List.copyOf(read.names()));
            assertArrayEquals(new float[] {2, 3}, Tensors.toFloats(read.load("b")));
        }
    }

    @Test
    void failureMidwayKeepsThePreviousFile() throws IOException {
        Path file = dir.resolve("w.safetensors");
        SafetensorsWriter.write(file, Map.of("a", Tensors.fromFloats(new float[] {1}, 1)), Map.of());
        byte[] before = Files.readAllBytes(file);
        // a meta tensor has a dtype and shape (so the header is written) but no data to copy out
        Map<String, Tensor> tensors = Map.of("a", Tensors.fromFloats(new float[] {5}, 1), "z", metaTensor(3));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, tensors, Map.of()));

        assertTrue(e.getMessage().contains("cannot write tensor 'z'"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(file));
        assertEquals(List.of(file), filesIn(dir));
    }

    @Test
    void refusesATensorNamedLikeTheMetadata() {
        Map<String, Tensor> tensors = Map.of("__metadata__", Tensors.fromFloats(new float[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(dir.resolve("x"), tensors, Map.of()));
    }

    private static Tensor metaTensor(long n) {
        try (TensorOptions options = new TensorOptions(torch.ScalarType.Float)
                .device(new DeviceOptional(new org.bytedeco.pytorch.Device(torch.DeviceType.Meta)))) {
            return torch.empty(new long[] {n}, options, new MemoryFormatOptional());
        }
    }

    /** The tensor's raw row-major bytes: compares any dtype exactly. */
    private static byte[] bytes(Tensor t) {
        Tensor contiguous = t.contiguous();
        byte[] out = new byte[(int) contiguous.nbytes()];
        new BytePointer(contiguous.data_ptr()).get(out);
        return out;
    }

    private static List<Path> filesIn(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.sorted().toList();
        }
    }
}
