package dev.tailor.serve;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The adapters served on the one base model, which the HTTP layer lists and changes at run time
 * ({@code POST /v1/adapters}, {@code DELETE /v1/adapters/{name}}). Implementations are safe for
 * concurrent use. Names are checked by the caller ({@link ModelCatalog}): unique, and none is
 * "base" or the base model's id.
 */
public interface AdapterCatalog extends AutoCloseable {
    /** What is served now, in name order. */
    List<ServedAdapter> adapters();

    Optional<ServedAdapter> find(String name);

    /**
     * Validates the PEFT adapter in {@code directory} against the base model (format, every key a
     * linear layer of it, every shape fitting it, rank limit) and serves it as {@code name}. A bad
     * adapter throws {@link dev.tailor.TailorException} with a one-line reason, and neither the
     * catalog nor running requests are disturbed.
     */
    ServedAdapter load(String name, Path directory);

    /** Stops serving {@code name}; requests already using it finish with it. False when it was not served. */
    boolean unload(String name);

    /** Releases every adapter. */
    @Override
    void close();
}
