package dev.tailor.serve;

import dev.tailor.model.AdapterConfig;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The adapters the {@link BatchingEngine} serves: loading one registers it with the engine (which
 * validates it against the base between two decoding steps, without disturbing running
 * requests), unloading unregisters it (requests already using it finish with it). This class only
 * adds what the HTTP layer shows: when each was loaded and its rank.
 */
public final class EngineAdapterCatalog implements AdapterCatalog {
    private final BatchingEngine engine;
    private final TreeMap<String, ServedAdapter> served = new TreeMap<>();

    public EngineAdapterCatalog(BatchingEngine engine) {
        this.engine = engine;
    }

    @Override
    public synchronized List<ServedAdapter> adapters() {
        return List.copyOf(served.values());
    }

    @Override
    public synchronized Optional<ServedAdapter> find(String name) {
        return Optional.ofNullable(served.get(name));
    }

    /** Registers with the engine, blocking until it validated and took the adapter (a TailorException says why not). */
    @Override
    public ServedAdapter load(String name, Path directory) {
        engine.register(name, directory); // outside the lock: reading weights must not stall lookups
        AdapterConfig config = AdapterConfig.load(directory);
        int rank = config.rankPattern().values().stream().mapToInt(Integer::intValue).reduce(config.r(), Math::max);
        ServedAdapter info = new ServedAdapter(name, directory, rank, Instant.now());
        synchronized (this) {
            served.put(name, info);
        }
        return info;
    }

    @Override
    public boolean unload(String name) {
        synchronized (this) {
            if (served.remove(name) == null) {
                return false;
            }
        }
        engine.unregister(name);
        return true;
    }

    /** Forgets the adapters; the engine frees their weights when it shuts down. */
    @Override
    public synchronized void close() {
        served.clear();
    }
}
