package dev.tailor.tensor;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * One safetensors file, open for reading. The header is fully validated against the file size when
 * the file is opened, so no offset from the file reaches native memory unchecked. Each tensor is
 * read with a single copy, straight from the file into the memory of a new libtorch tensor.
 *
 * <p>Why positional reads rather than {@code FileChannel.map}: Java 17 cannot unmap a mapping before
 * garbage collection, so per-tensor mappings of a multi-GB checkpoint would stay mapped for an
 * unknown time; a read into the tensor's memory costs the same single copy and releases nothing late.
 */
public final class SafetensorsFile implements AutoCloseable {
    // a ByteBuffer (and one read call) covers at most 2 GiB, so larger tensors are read in chunks
    private static final int CHUNK_BYTES = 1 << 30;

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final SafetensorsHeader header;

    private SafetensorsFile(Path file, FileChannel channel, long dataStart, SafetensorsHeader header) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.header = header;
    }

    public static SafetensorsFile open(Path file) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new TailorException(file + ": file not found");
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage(), e);
        }
        try {
            long size = channel.size();
            if (size < Long.BYTES) {
                throw SafetensorsHeader.corrupt(file, "file is " + size + " bytes, too short to be a safetensors file");
            }
            long headerBytes = readFully(channel, 0, Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).getLong();
            // compared as unsigned: a length with the top bit set is just a huge number
            if (Long.compareUnsigned(headerBytes, SafetensorsHeader.MAX_BYTES) > 0) {
                throw SafetensorsHeader.corrupt(file, "header length " + Long.toUnsignedString(headerBytes)
                        + " exceeds the limit of " + SafetensorsHeader.MAX_BYTES + " bytes");
            }
            if (headerBytes > size - Long.BYTES) {
                throw SafetensorsHeader.corrupt(file, "header length " + headerBytes + " exceeds the file size of "
                        + size + " bytes (the file is truncated)");
            }
            byte[] json = readFully(channel, Long.BYTES, (int) headerBytes).array();
            long dataStart = Long.BYTES + headerBytes;
            return new SafetensorsFile(file, channel, dataStart, SafetensorsHeader.parse(file, json, size - dataStart));
        } catch (IOException e) {
            closeQuietly(channel);
            throw new TailorException(file + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    public Path path() {
        return file;
    }

    /** Every tensor of the file, sorted by name. */
    public List<SafetensorsEntry> entries() {
        return List.copyOf(header.entries().values());
    }

    public Set<String> names() {
        return header.entries().keySet();
    }

    public boolean contains(String name) {
        return header.entries().containsKey(name);
    }

    public SafetensorsEntry entry(String name) {
        SafetensorsEntry entry = header.entries().get(name);
        if (entry == null) {
            throw new TailorException(file + ": no tensor named '" + name + "'; check the name against the model's weights");
        }
        return entry;
    }

    /** The {@code __metadata__} map (empty when the file has none). */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** The tensor as stored: the file's dtype, on the CPU. */
    public Tensor load(String name) {
        SafetensorsEntry entry = entry(name);
        try (TensorOptions options = new TensorOptions(scalarType(entry));
             MemoryFormatOptional format = new MemoryFormatOptional()) {
            Tensor tensor = torch.empty(entry.shape(), options, format);
            try {
                readInto(tensor, entry);
            } catch (RuntimeException e) {
                tensor.close();
                throw e;
            }
            return tensor;
        }
    }

    /** The tensor converted to {@code target}, e.g. F16 weights to F32 or BF16 (fp16 GEMM on CPU is very slow). */
    public Tensor load(String name, DType target) {
        DType storedType = entry(name).dtype();
        Tensor stored = load(name);
        if (storedType == target) {
            return stored;
        }
        try (stored) {
            return stored.to(target.scalarType());
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private torch.ScalarType scalarType(SafetensorsEntry entry) {
        try {
            return entry.dtype().scalarType();
        } catch (TailorException e) {
            throw new TailorException(file + ": tensor '" + entry.name() + "': " + e.getMessage());
        }
    }

    /** Copies the tensor's bytes from the file into its freshly allocated, contiguous CPU memory. */
    private void readInto(Tensor tensor, SafetensorsEntry entry) {
        // a view of memory the tensor owns: nothing to free here
        BytePointer memory = new BytePointer(tensor.data_ptr());
        long size = entry.byteSize();
        try {
            for (long done = 0; done < size; done += CHUNK_BYTES) {
                int length = (int) Math.min(CHUNK_BYTES, size - done);
                ByteBuffer target = memory.getPointer(done).capacity(length).asByteBuffer();
                long position = dataStart + entry.begin() + done;
                while (target.hasRemaining()) {
                    if (channel.read(target, position + target.position()) < 0) {
                        throw SafetensorsHeader.corrupt(file, "the file became shorter while tensor '" + entry.name()
                                + "' was read");
                    }
                }
            }
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read tensor '" + entry.name() + "': " + e.getMessage(), e);
        }
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new IOException("unexpected end of file");
            }
        }
        return buffer.flip();
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing was written through it: there is nothing to lose
        }
    }
}
