package dev.tailor.serve;

import dev.tailor.TailorException;
import dev.tailor.model.Adapter;
import dev.tailor.model.Model;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Adapters loaded with {@link Adapter#load} (which validates them against the base model before
 * creating any tensor) and held in memory until unloaded. It gives the HTTP layer real
 * validation without generating anything: the weights are never handed out, so unloading frees
 * them at once. The batching engine's registry, which applies adapters per request, implements
 * the same interface.
 */
public final class InMemoryAdapterCatalog implements AdapterCatalog {
    private final Model base;
    private final TreeMap<String, Loaded> loaded = new TreeMap<>();

    private record Loaded(ServedAdapter info, Adapter adapter) {}

    public InMemoryAdapterCatalog(Model base) {
        this.base = base;
    }

    @Override
    public synchronized List<ServedAdapter> adapters() {
        return loaded.values().stream().map(Loaded::info).toList();
    }

    @Override
    public synchronized Optional<ServedAdapter> find(String name) {
        return Optional.ofNullable(loaded.get(name)).map(Loaded::info);
    }

    @Override
    public ServedAdapter load(String name, Path directory) {
        synchronized (this) {
            if (loaded.containsKey(name)) {
                throw new TailorException("adapter '" + name + "' is already loaded; unload it first to replace it");
            }
        }
        Adapter adapter = Adapter.load(directory, base); // outside the lock: reading weights must not stall lookups
        int rank = adapter.modules().keySet().stream().mapToInt(adapter.config::rankFor).max().orElse(adapter.config.r());
        ServedAdapter info = new ServedAdapter(name, directory, rank, Instant.now());
        synchronized (this) {
            if (loaded.putIfAbsent(name, new Loaded(info, adapter)) != null) {
                adapter.close();
                throw new TailorException("adapter '" + name + "' was loaded by another request meanwhile");
            }
        }
        return info;
    }

    @Override
    public boolean unload(String name) {
        Loaded removed;
        synchronized (this) {
            removed = loaded.remove(name);
        }
        if (removed != null) {
            removed.adapter().close();
        }
        return removed != null;
    }

    @Override
    public synchronized void close() {
        loaded.values().forEach(l -> l.adapter().close());
        loaded.clear();
    }
}
