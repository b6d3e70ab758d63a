package dev.tailor.serve;

import dev.tailor.TailorException;
import dev.tailor.model.Adapter;
import dev.tailor.model.LoraWeights;
import dev.tailor.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;

/**
 * The adapters an engine serves: a registry of names to PEFT directories, readable from any thread,
 * and at most {@code maxResident} of them loaded, least recently used unloaded first. Everything that
 * loads or frees weights runs on the scheduler thread. An adapter in use by a running request is
 * never unloaded; one unregistered while in use keeps serving the requests that already have it and
 * is freed after the last of them.
 */
final class AdapterCache implements AutoCloseable {
    /** One registered adapter; {@code resident}, {@code users} and {@code lastUse} belong to the scheduler thread. */
    static final class Entry {
        final String name;
        final Path directory;
        Adapter resident;
        int users;
        long lastUse;
        boolean registered = true;

        Entry(String name, Path directory) {
            this.name = name;
            this.directory = directory;
        }
    }

    private final Model model;
    private final int maxResident;
    private final Map<String, Entry> registry = new ConcurrentHashMap<>();
    private final List<Entry> resident = new ArrayList<>();
    private long clock;
    private volatile int residentCount;
    private volatile long loads;

    AdapterCache(Model model, int maxResident) {
        this.model = model;
        this.maxResident = maxResident;
    }

    /** Any thread: the registered adapter of that name. */
    Entry lookup(String name) {
        Entry e = registry.get(name);
        if (e == null) {
            throw unknown(name);
        }
        return e;
    }

    private UnknownAdapterException unknown(String name) {
        return new UnknownAdapterException("no adapter named '" + name + "' is registered; registered: "
                + (registry.isEmpty() ? "none" : String.join(", ", registered().keySet())));
    }

    /** Any thread: registered names and their directories, sorted by name. */
    Map<String, Path> registered() {
        Map<String, Path> out = new TreeMap<>();
        registry.values().forEach(e -> out.put(e.name, e.directory));
        return out;
    }

    /** Any thread. */
    int residentCount() {
        return residentCount;
    }

    /** Any thread. */
    long loads() {
        return loads;
    }

    /**
     * Validates the adapter by loading it against the base (PEFT format, every key a linear layer
     * of this model, shapes, rank limit, finite weights), then registers it, resident if there is room.
     */
    void register(String name, Path directory) {
        if (name == null || name.isBlank() || !name.strip().equals(name)) {
            throw new TailorException("adapter name '" + name + "': use a non-empty name without surrounding spaces");
        }
        if (registry.containsKey(name)) {
            throw new TailorException("an adapter named '" + name + "' is already registered (" + registry.get(name).directory
                    + "); unregister it first");
        }
        Adapter adapter = load(name, directory);
        Entry e = new Entry(name, directory);
        registry.put(name, e);
        if (makeRoom()) {
            makeResident(e, adapter);
        } else {
            adapter.close(); // validated; loaded again when first asked for
        }
    }

    /** Removes the name; weights in use are freed when their last request finishes. */
    void unregister(String name) {
        Entry e = registry.remove(name);
        if (e == null) {
            throw unknown(name);
        }
        e.registered = false;
        if (e.users == 0) {
            unload(e);
        }
    }

    /**
     * Loads the adapter if needed and counts one more user, or returns null when every resident
     * adapter is in use and none may be unloaded (the caller retries after a request finishes).
     */
    Adapter acquire(Entry e) {
        if (e.resident == null) {
            if (!makeRoom()) {
                return null;
            }
            makeResident(e, load(e.name, e.directory));
        }
        e.users++;
        e.lastUse = ++clock;
        return e.resident;
    }

    void release(Entry e) {
        e.users--;
        if (e.users == 0 && !e.registered) {
            unload(e);
        }
    }

    private void makeResident(Entry e, Adapter adapter) {
        e.resident = adapter;
        e.lastUse = ++clock;
        resident.add(e);
        residentCount = resident.size();
    }

    private boolean makeRoom() {
        while (resident.size() >= maxResident) {
            Entry idle = resident.stream().filter(r -> r.users == 0).min(Comparator.comparingLong(r -> r.lastUse)).orElse(null);
            if (idle == null) {
                return false;
            }
            unload(idle);
        }
        return true;
    }

    private void unload(Entry e) {
        if (e.resident != null) {
            e.resident.close();
            e.resident = null;
            resident.remove(e);
            residentCount = resident.size();
        }
    }

    private Adapter load(String name, Path directory) {
        Adapter adapter;
        try {
            adapter = Adapter.load(directory, model);
        } catch (RuntimeException e) {
            throw new TailorException("adapter '" + name + "' is refused: " + e.getMessage(), e);
        }
        loads++;
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, LoraWeights> m : adapter.modules().entrySet()) {
                if (!torch.isfinite(m.getValue().a()).all().item_bool() || !torch.isfinite(m.getValue().b()).all().item_bool()) {
                    adapter.close();
                    throw new TailorException("adapter '" + name + "' is refused: " + directory + " has NaN or infinite weights in "
                            + m.getKey() + " (a diverged training run?)");
                }
            }
        }
        return adapter;
    }

    @Override
    public void close() {
        new ArrayList<>(resident).forEach(this::unload);
    }
}
