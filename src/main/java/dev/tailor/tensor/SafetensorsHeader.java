package dev.tailor.tensor;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The JSON header of a safetensors file: parsing that enforces every validity rule of the format
 * (nothing in it is trusted before the checks pass), and the canonical encoding the writer uses.
 */
record SafetensorsHeader(SortedMap<String, SafetensorsEntry> entries, SortedMap<String, String> metadata) {
    static final long MAX_BYTES = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    // duplicate names would otherwise silently keep the last entry
    private static final ObjectReader STRICT_JSON = Json.MAPPER.reader()
            .with(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    SafetensorsHeader {
        entries = Collections.unmodifiableSortedMap(entries);
        metadata = Collections.unmodifiableSortedMap(metadata);
    }

    /** Parses and validates {@code utf8}, the header of {@code file}, whose data section has {@code dataBytes} bytes. */
    static SafetensorsHeader parse(Path file, byte[] utf8, long dataBytes) {
        JsonNode root = readJson(file, utf8);
        if (!root.isObject()) {
            throw corrupt(file, "header is not a JSON object");
        }
        SortedMap<String, SafetensorsEntry> entries = new TreeMap<>();
        SortedMap<String, String> metadata = new TreeMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, field.getValue());
            } else {
                entries.put(field.getKey(), parseEntry(file, field.getKey(), field.getValue()));
            }
        }
        checkLayout(file, entries.values(), dataBytes);
        return new SafetensorsHeader(entries, metadata);
    }

    /** The compact header JSON, {@code __metadata__} first, padded with spaces so the data starts 8-byte aligned. */
    static byte[] encode(Collection<SafetensorsEntry> entries, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.set(METADATA_KEY, Json.MAPPER.valueToTree(new TreeMap<>(metadata)));
        for (SafetensorsEntry e : entries) {
            ObjectNode node = root.putObject(e.name());
            node.put("dtype", e.dtype().safetensorsName);
            ArrayNode shape = node.putArray("shape");
            for (long dim : e.shape()) {
                shape.add(dim);
            }
            node.putArray("data_offsets").add(e.begin()).add(e.end());
        }
        byte[] json = Json.compact(root).getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) / 8 * 8);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    /** An error for a file that is damaged or not a safetensors file at all. */
    static TailorException corrupt(Path file, String problem) {
        return new TailorException(file + ": " + problem + "; re-download or re-export the file");
    }

    private static JsonNode readJson(Path file, byte[] utf8) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw corrupt(file, "header is not valid UTF-8");
        }
        try {
            return STRICT_JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw corrupt(file, "header is not valid JSON (" + e.getOriginalMessage().replace('\n', ' ') + ")");
        }
    }

    private static SortedMap<String, String> parseMetadata(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw corrupt(file, METADATA_KEY + " is not a JSON object");
        }
        SortedMap<String, String> metadata = new TreeMap<>();
        for (Map.Entry<String, JsonNode> field : node.properties()) {
            if (!field.getValue().isTextual()) {
                throw corrupt(file, METADATA_KEY + " value of '" + field.getKey() + "' is not a string");
            }
            metadata.put(field.getKey(), field.getValue().textValue());
        }
        return metadata;
    }

    private static SafetensorsEntry parseEntry(Path file, String name, JsonNode node) {
        String where = "tensor '" + name + "'";
        if (!node.isObject()) {
            throw corrupt(file, where + " is not a JSON object");
        }
        JsonNode dtypeName = node.get("dtype");
        if (dtypeName == null || !dtypeName.isTextual()) {
            throw corrupt(file, where + ": \"dtype\" is missing or not a string");
        }
        DType dtype = DType.ofSafetensors(dtypeName.textValue());
        if (dtype == null) {
            throw corrupt(file, where + ": unknown dtype '" + dtypeName.textValue() + "'");
        }
        long[] shape = nonNegativeLongs(file, where, node, "shape", -1);
        long[] offsets = nonNegativeLongs(file, where, node, "data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw corrupt(file, where + ": data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(SafetensorsEntry.numel(shape), dtype.bytes);
        } catch (ArithmeticException e) {
            throw corrupt(file, where + ": shape " + Arrays.toString(shape) + " has more elements than fit in memory");
        }
        if (end - begin != bytes) {
            throw corrupt(file, where + ": " + dtype.safetensorsName + " " + Arrays.toString(shape) + " needs " + bytes
                    + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    /** {@code node.field} as an array of non-negative integers that fit a long; {@code length < 0}: any length. */
    private static long[] nonNegativeLongs(Path file, String where, JsonNode node, String field, int length) {
        JsonNode array = node.get(field);
        if (array == null || !array.isArray() || (length >= 0 && array.size() != length)) {
            throw corrupt(file, where + ": \"" + field + "\" is missing or not an array"
                    + (length >= 0 ? " of " + length + " integers" : ""));
        }
        long[] values = new long[array.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode value = array.get(i);
            if (!value.isIntegralNumber() || !value.canConvertToLong() || value.longValue() < 0) {
                throw corrupt(file, where + ": \"" + field + "\" holds " + value + ", not a non-negative integer");
            }
            values[i] = value.longValue();
        }
        return values;
    }

    /** Tensors sorted by offset must tile the data section exactly: from byte 0, no gaps, no overlaps, no tail. */
    private static void checkLayout(Path file, Collection<SafetensorsEntry> entries, long dataBytes) {
        List<SafetensorsEntry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(SafetensorsEntry::begin).thenComparingLong(SafetensorsEntry::end));
        long expected = 0;
        for (SafetensorsEntry e : byOffset) {
            if (e.begin() != expected) {
                throw corrupt(file, (e.begin() > expected ? "gap in the data" : "tensors overlap") + ": tensor '"
                        + e.name() + "' starts at byte " + e.begin() + " but the previous tensor ends at byte " + expected);
            }
            expected = e.end();
        }
        if (expected > dataBytes) {
            throw corrupt(file, "file is truncated: the header declares " + expected + " data bytes but only "
                    + dataBytes + " follow it");
        }
        if (expected < dataBytes) {
            throw corrupt(file, (dataBytes - expected) + " unexpected bytes after the last tensor");
        }
    }
}
