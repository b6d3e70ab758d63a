package dev.tailor.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every validity rule, each broken by a hand-crafted file. All of them are caught while the header is
 * checked, before anything is allocated in native memory: a crash here would take the JVM down.
 */
class SafetensorsRejectionTest {
    private static final String F32_1 = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";

    @TempDir
    Path dir;

    static Stream<Arguments> corruptHeaders() {
        return Stream.of(
                // header JSON, data bytes after it, expected message fragment
                Arguments.of("{\"a\":", 0, "not valid JSON"),
                Arguments.of("{} {}", 0, "not valid JSON"),
                Arguments.of("", 0, "not a JSON object"),
                Arguments.of("[1,2]", 0, "not a JSON object"),
                Arguments.of("{\"a\":" + F32_1 + ",\"a\":" + F32_1 + "}", 4, "Duplicate field 'a'"),
                Arguments.of("{\"a\":3}", 0, "tensor 'a' is not a JSON object"),
                Arguments.of("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': \"dtype\" is missing"),
                Arguments.of("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing or not a string"),
                Arguments.of("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F128'"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is missing"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is missing or not an array"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "\"shape\" holds -1"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "\"shape\" holds 1.5"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, "\"shape\" holds"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4, "more elements than fit"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "\"data_offsets\" is missing"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "not an array of 2 integers"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4, "\"data_offsets\" holds -4"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before they begin"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes but data_offsets [0, 8] hold 8"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap in the data: tensor 'a' starts at byte 4"),
                Arguments.of("{\"a\":" + F32_1 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "gap in the data: tensor 'b'"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensors overlap"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "truncated: the header declares 16 data bytes but only 8"),
                Arguments.of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4611686018427387904,4611686018427387908]}}", 4, "gap in the data"),
                Arguments.of("{\"a\":" + F32_1 + "}", 8, "4 unexpected bytes after the last tensor"),
                Arguments.of("{}", 1, "1 unexpected bytes after the last tensor"),
                Arguments.of("{\"__metadata__\":{\"format\":1}}", 0, "__metadata__ value of 'format' is not a string"),
                Arguments.of("{\"__metadata__\":[\"pt\"]}", 0, "__metadata__ is not a JSON object"));
    }

    @ParameterizedTest
    @MethodSource("corruptHeaders")
    void rejectsCorruptHeader(String header, int dataBytes, String fragment) throws IOException {
        Path file = write(withLength(header.getBytes(StandardCharsets.UTF_8), dataBytes));
        assertRejected(file, fragment);
    }

    @Test
    void rejectsFileShorterThanTheLengthPrefix() throws IOException {
        assertRejected(write(new byte[] {1, 0, 0}), "too short");
    }

    @Test
    void rejectsHeaderLengthAboveTheLimit() throws IOException {
        assertRejected(write(lengthPrefix(100_000_001L, 16)), "header length 100000001 exceeds the limit");
        assertRejected(write(lengthPrefix(-1L, 16)), "header length 18446744073709551615 exceeds the limit");
    }

    @Test
    void rejectsHeaderLengthBeyondTheFile() throws IOException {
        assertRejected(write(lengthPrefix(1000, 10)), "header length 1000 exceeds the file size of 18 bytes");
    }

    @Test
    void rejectsHeaderThatIsNotUtf8() throws IOException {
        assertRejected(write(withLength(new byte[] {'{', (byte) 0xFF, '}'}, 0)), "not valid UTF-8");
    }

    @Test
    void refusesDtypesLibtorchCannotHoldWhenLoading() throws IOException {
        Path file = write(withLength("{\"a\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
                .getBytes(StandardCharsets.UTF_8), 4));
        try (SafetensorsFile open = SafetensorsFile.open(file)) {
            assertEquals(DType.U32, open.entry("a").dtype());
            TailorException e = assertThrows(TailorException.class, () -> open.load("a"));
            assertTrue(e.getMessage().contains(file + ": tensor 'a': dtype U32"), e.getMessage());
        }
    }

    @Test
    void unknownTensorNameNamesTheFile() throws IOException {
        Path file = write(withLength(("{\"a\":" + F32_1 + "}").getBytes(StandardCharsets.UTF_8), 4));
        try (SafetensorsFile open = SafetensorsFile.open(file)) {
            TailorException e = assertThrows(TailorException.class, () -> open.entry("b"));
            assertTrue(e.getMessage().startsWith(file + ": no tensor named 'b'"), e.getMessage());
        }
    }

    @Test
    void missingFileIsAUserError() {
        Path file = dir.resolve("absent.safetensors");
        TailorException e = assertThrows(TailorException.class, () -> SafetensorsFile.open(file));
        assertEquals(file + ": file not found", e.getMessage());
    }

    private void assertRejected(Path file, String fragment) {
        TailorException e = assertThrows(TailorException.class, () -> SafetensorsFile.open(file).close());
        String message = e.getMessage();
        assertTrue(message.startsWith(file + ": "), message);
        assertTrue(message.contains(fragment), "expected '" + fragment + "' in: " + message);
        assertTrue(message.endsWith("re-download or re-export the file"), message);
        assertFalse(message.contains("\n"), message);
    }

    private Path write(byte[] content) throws IOException {
        Path file = Files.createTempFile(dir, "crafted", ".safetensors");
        Files.write(file, content);
        return file;
    }

    /** The length prefix, the header, then {@code dataBytes} zero bytes. */
    private static byte[] withLength(byte[] header, int dataBytes) {
        return ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(header.length).put(header).array();
    }

    /** A length prefix claiming {@code headerLength}, followed by {@code bytesAfter} zero bytes. */
    private static byte[] lengthPrefix(long headerLength, int bytesAfter) {
        return ByteBuffer.allocate(8 + bytesAfter).order(ByteOrder.LITTLE_ENDIAN).putLong(headerLength).array();
    }
}
