package dev.tailor.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URISyntaxException;
import java.nio.file.Path;

/** Reading golden files written by the Python generators in src/test/python. */
final class GoldenJson {
    private GoldenJson() {}

    static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).doubleValue();
        }
        return out;
    }

    static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).longValue();
        }
        return out;
    }

    /** A test resource by its path below src/test/resources, e.g. "nf4/golden.json". */
    static Path resource(String name) {
        try {
            return Path.of(GoldenJson.class.getResource("/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
