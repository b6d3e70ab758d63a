package dev.tailor.tensor;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** Golden files written by the Python generators in src/test/python, found on the test classpath. */
final class GoldenJson {
    private GoldenJson() {}

    /** A test resource by its path below src/test/resources, e.g. "nf4/golden.json". */
    static Path resource(String name) {
        try {
            return Path.of(GoldenJson.class.getResource("/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
