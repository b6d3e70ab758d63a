package dev.tailor.tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a safetensors header: its dtype, shape and byte range {@code [begin, end)} relative to
 * the start of the data section. Known before anything is loaded, so callers can check shapes first.
 */
public record SafetensorsEntry(String name, DType dtype, long[] shape, long begin, long end) {
    public SafetensorsEntry {
        Objects.requireNonNull(name);
        Objects.requireNonNull(dtype);
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long byteSize() {
        return end - begin;
    }

    /** Element count of a shape; {@code []} (a scalar) has one element. Throws ArithmeticException on overflow. */
    static long numel(long[] shape) {
        long n = 1;
        for (long dim : shape) {
            n = Math.multiplyExact(n, dim);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SafetensorsEntry e && name.equals(e.name) && dtype == e.dtype
                && Arrays.equals(shape, e.shape) && begin == e.begin && end == e.end;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), begin, end);
    }

    @Override
    public String toString() {
        return name + " " + dtype.safetensorsName + " " + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
    }
}
