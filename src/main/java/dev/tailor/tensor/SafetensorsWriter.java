package dev.tailor.tensor;

import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;

/**
 * Writes safetensors files: tensors sorted by name and stored contiguously in that order, each in its
 * own dtype; compact header JSON padded with spaces to a multiple of 8 bytes. Data is streamed tensor
 * by tensor, so writing a multi-GB model needs no buffer of its size. Every file goes through
 * {@link AtomicFiles}: a failed write leaves the previous file untouched.
 */
public final class SafetensorsWriter {
    private static final int COPY_CHUNK_BYTES = 1 << 20;
    private static final String SHARD_NAME = "model-%05d-of-%05d.safetensors";
    private static final Pattern WEIGHT_FILE =
            Pattern.compile("model(-\\d{5}-of-\\d{5})?\\.safetensors|model\\.safetensors\\.index\\.json");

    private SafetensorsWriter() {}

    /** Writes {@code tensors} to {@code file}; {@code __metadata__} is {@code metadata} plus {@code "format":"pt"}. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        SortedMap<String, Tensor> byName = new TreeMap<>(tensors);
        List<SafetensorsEntry> layout = layout(byName);
        Map<String, String> allMetadata = new TreeMap<>(metadata);
        allMetadata.put("format", "pt"); // transformers refuses safetensors files without it
        byte[] header = SafetensorsHeader.encode(layout, allMetadata);
        AtomicFiles.write(file, out -> {
            out.write(ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            byte[] buffer = new byte[COPY_CHUNK_BYTES];
            for (SafetensorsEntry entry : layout) {
                writeData(out, file, entry, byName.get(entry.name()), buffer);
            }
        });
    }

    /**
     * Writes a model directory's weights as Hugging Face does: {@code model.safetensors} when everything
     * fits in one shard of at most {@code maxShardBytes}, otherwise {@code model-0000i-of-0000n.safetensors}
     * files plus {@code model.safetensors.index.json}. A tensor larger than the limit gets a shard of its own.
     */
    public static void writeSharded(Path dir, Map<String, Tensor> tensors, long maxShardBytes) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
        }
        List<SortedMap<String, Tensor>> shards = split(new TreeMap<>(tensors), maxShardBytes);
        Set<String> written = new HashSet<>();
        if (shards.size() == 1) {
            write(dir.resolve(SafetensorsCheckpoint.SINGLE_FILE), shards.get(0), Map.of());
            written.add(SafetensorsCheckpoint.SINGLE_FILE);
        } else {
            SortedMap<String, String> weightMap = new TreeMap<>();
            long totalSize = 0;
            for (int i = 0; i < shards.size(); i++) {
                String shardName = String.format(Locale.ROOT, SHARD_NAME, i + 1, shards.size());
                write(dir.resolve(shardName), shards.get(i), Map.of());
                written.add(shardName);
                for (Map.Entry<String, Tensor> tensor : shards.get(i).entrySet()) {
                    weightMap.put(tensor.getKey(), shardName);
                    totalSize += byteSize(tensor.getValue());
                }
            }
            Map<String, Object> index = Map.of("metadata", Map.of("total_size", totalSize), "weight_map", weightMap);
            AtomicFiles.writeString(dir.resolve(SafetensorsCheckpoint.INDEX_FILE), Json.pretty(index) + "\n");
            written.add(SafetensorsCheckpoint.INDEX_FILE);
        }
        removeStaleWeightFiles(dir, written);
    }

    private static List<SafetensorsEntry> layout(SortedMap<String, Tensor> tensors) {
        List<SafetensorsEntry> layout = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (e.getKey().equals(SafetensorsHeader.METADATA_KEY)) {
                throw new IllegalArgumentException("a tensor cannot be named " + SafetensorsHeader.METADATA_KEY);
            }
            Tensor tensor = e.getValue();
            long bytes = byteSize(tensor);
            layout.add(new SafetensorsEntry(e.getKey(), Tensors.dtype(tensor), Tensors.shape(tensor), offset, offset + bytes));
            offset += bytes;
        }
        return layout;
    }

    private static long byteSize(Tensor tensor) {
        return SafetensorsEntry.numel(Tensors.shape(tensor)) * Tensors.dtype(tensor).bytes;
    }

    /** Streams one tensor's bytes, row-major, from a contiguous CPU copy (the tensor itself when it already is one). */
    private static void writeData(OutputStream out, Path file, SafetensorsEntry entry, Tensor tensor, byte[] buffer)
            throws IOException {
        try (org.bytedeco.pytorch.Device cpu = Device.CPU.torchDevice();
             Tensor onCpu = tensor.to(cpu, tensor.scalar_type());
             Tensor contiguous = onCpu.contiguous()) {
            // a view of memory the tensor owns: nothing to free here
            BytePointer data = new BytePointer(contiguous.data_ptr());
            for (long done = 0; done < entry.byteSize(); done += buffer.length) {
                int length = (int) Math.min(buffer.length, entry.byteSize() - done);
                data.position(done).get(buffer, 0, length);
                out.write(buffer, 0, length);
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + ": cannot write tensor '" + entry.name() + "': " + e.getMessage(), e);
        }
    }

    private static List<SortedMap<String, Tensor>> split(SortedMap<String, Tensor> tensors, long maxShardBytes) {
        List<SortedMap<String, Tensor>> shards = new ArrayList<>();
        SortedMap<String, Tensor> current = new TreeMap<>();
        shards.add(current);
        long currentBytes = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            long bytes = byteSize(e.getValue());
            if (!current.isEmpty() && currentBytes + bytes > maxShardBytes) {
                current = new TreeMap<>();
                shards.add(current);
                currentBytes = 0;
            }
            current.put(e.getKey(), e.getValue());
            currentBytes += bytes;
        }
        return shards;
    }

    /**
     * Deletes weight files of an earlier save in another layout: loaders prefer a stale
     * model.safetensors over a new index, and stale shards would be mistaken for current ones.
     */
    private static void removeStaleWeightFiles(Path dir, Set<String> keep) {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> stale = files.filter(p -> WEIGHT_FILE.matcher(p.getFileName().toString()).matches())
                    .filter(p -> !keep.contains(p.getFileName().toString()))
                    .collect(Collectors.toList());
            for (Path p : stale) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove stale weight files in " + dir + ": " + e.getMessage(), e);
        }
    }
}
