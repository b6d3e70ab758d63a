package dev.tailor.serve;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Every model id the server answers to: the base model (by its id or as "base"), each served
 * adapter, and each experiment. It decides what a caller may see and use: anything the caller's
 * key does not grant looks exactly like something that does not exist (404), so a tenant never
 * learns another tenant's adapter names. Changes (adapters loaded or unloaded, experiments
 * defined) are checked against each other here: names stay unique, and an adapter an experiment
 * routes to cannot be unloaded.
 */
public final class ModelCatalog {
    /** What experiments and the request log call the base model, whatever its id. */
    public static final String BASE = "base";

    private final String baseId;
    private final Instant baseCreated = Instant.now();
    private final AdapterCatalog adapters;
    private final Map<String, Experiment> experiments = new TreeMap<>();
    private final Map<String, Instant> experimentCreated = new TreeMap<>();
    /** Adapter names being loaded right now (outside the lock): reserved against a second load or an experiment. */
    private final Set<String> loading = new HashSet<>();

    /** @param baseId how /v1/models lists the base model (e.g. its directory's name) */
    public ModelCatalog(String baseId, AdapterCatalog adapters) {
        this.baseId = baseId;
        this.adapters = adapters;
    }

    /**
     * A catalog that serves {@code adapters} (name to directory, loaded in order) and then
     * {@code experiments}: what serve.yaml and the command line ask for at startup.
     */
    public static ModelCatalog open(String baseId, AdapterCatalog catalog, Map<String, Path> adapters, List<Experiment> experiments) {
        ModelCatalog models = new ModelCatalog(baseId, catalog);
        adapters.forEach((name, dir) -> {
            try {
                models.load(name, dir);
            } catch (TailorException e) {
                throw new TailorException("adapter '" + name + "': " + e.getMessage(), e);
            }
        });
        experiments.forEach(models::define);
        return models;
    }

    public String baseId() {
        return baseId;
    }

    public AdapterCatalog adapters() {
        return adapters;
    }

    /** The models {@code caller} may use, as OpenAI model objects: base, adapters (with parent), experiments. */
    public synchronized List<Map<String, Object>> models(Caller caller) {
        List<Map<String, Object>> out = new ArrayList<>();
        if (caller.mayUseBase()) {
            out.add(modelObject(baseId, baseCreated, null));
        }
        for (ServedAdapter a : adapters.adapters()) {
            if (caller.mayUseAdapter(a.name())) {
                out.add(modelObject(a.name(), a.created(), baseId));
            }
        }
        experiments.forEach((name, e) -> {
            if (caller.mayUseExperiment(name)) {
                out.add(modelObject(name, experimentCreated.get(name), null));
            }
        });
        return out;
    }

    /** One model object, or 404 when it does not exist or the caller may not use it. */
    public synchronized Map<String, Object> model(Caller caller, String id) {
        return models(caller).stream().filter(m -> m.get("id").equals(id) || (id.equals(BASE) && m.get("id").equals(baseId)))
                .findFirst().orElseThrow(() -> ApiError.modelNotFound(id));
    }

    /**
     * Where a request for {@code model} goes; for an experiment, the variant {@code user} is
     * assigned at {@code now}. 404 for what the caller may not use, exactly as for what does not exist.
     */
    public synchronized ModelRoute resolve(Caller caller, String model, String user, Instant now) {
        if (model.equals(BASE) || model.equals(baseId)) {
            if (caller.mayUseBase()) {
                return new ModelRoute(model, BASE, null, null);
            }
        } else if (adapters.find(model).isPresent()) {
            if (caller.mayUseAdapter(model)) {
                return new ModelRoute(model, model, null, null);
            }
        } else if (experiments.containsKey(model) && caller.mayUseExperiment(model)) {
            Experiment e = experiments.get(model);
            Variant v = e.assign(user, now);
            return new ModelRoute(model, v.target().equals(baseId) ? BASE : v.target(), e, v);
        }
        throw ApiError.modelNotFound(model);
    }

    /**
     * Adds or replaces an experiment. Its targets must be served and its name free (a TailorException
     * says which is not); a replaced experiment keeps its logged results.
     */
    public synchronized Experiment define(Experiment experiment) {
        if (loading.contains(experiment.name())) {
            throw new TailorException("experiment '" + experiment.name() + "': an adapter of that name is being loaded; rename the experiment");
        }
        experiment.checkTargets(servedNames());
        experiments.put(experiment.name(), experiment);
        experimentCreated.putIfAbsent(experiment.name(), Instant.now());
        return experiment;
    }

    /** The experiments {@code caller} may use, by name. */
    public synchronized List<Experiment> experiments(Caller caller) {
        return experiments.values().stream().filter(e -> caller.mayUseExperiment(e.name())).toList();
    }

    /** An experiment the caller may use; 404 otherwise. */
    public synchronized Experiment experiment(Caller caller, String name) {
        Experiment e = experiments.get(name);
        if (e == null || !caller.mayUseExperiment(name)) {
            throw ApiError.notFound("The experiment '" + name + "' does not exist or you do not have access to it.", "name");
        }
        return e;
    }

    /** When the experiment was first defined (its model object's {@code created}). */
    public synchronized Optional<Instant> experimentCreated(String name) {
        return Optional.ofNullable(experimentCreated.get(name));
    }

    /** Validates and serves an adapter as {@code name}; a TailorException says why not (400). */
    public ServedAdapter load(String name, Path directory) {
        synchronized (this) {
            if (!ServeConfig.ADAPTER_NAME.matcher(name).matches()) {
                throw new TailorException("adapter name '" + name + "' must be 1 to 128 letters, digits, '.', '_', ':' or '-',"
                        + " starting with a letter or digit");
            }
            if (name.equals(BASE) || name.equals(baseId) || experiments.containsKey(name)) {
                throw new TailorException("adapter name '" + name + "' is already the name of "
                        + (experiments.containsKey(name) ? "an experiment" : "the base model") + "; choose another");
            }
            if (loading.contains(name) || adapters.find(name).isPresent()) {
                throw new TailorException("adapter '" + name + "' is already loaded; unload it first to replace it");
            }
            loading.add(name);
        }
        try {
            return adapters.load(name, directory); // slow (reads weights): outside the lock
        } finally {
            synchronized (this) {
                loading.remove(name);
            }
        }
    }

    /** Stops serving an adapter: 404 when it is not served, 400 while an experiment routes to it. */
    public synchronized void unload(String name) {
        if (adapters.find(name).isEmpty()) {
            throw ApiError.notFound("The adapter '" + name + "' is not loaded.", "name");
        }
        for (Experiment e : experiments.values()) {
            for (Variant v : e.variants()) {
                if (v.target().equals(name)) {
                    throw new TailorException("adapter '" + name + "' is a target of experiment '" + e.name() + "' (variant '"
                            + v.name() + "'); redefine the experiment without it first");
                }
            }
        }
        adapters.unload(name);
    }

    /** What experiments may route to: "base", the base model's id, and every served adapter. */
    private List<String> servedNames() {
        List<String> names = new ArrayList<>(List.of(BASE, baseId));
        adapters.adapters().forEach(a -> names.add(a.name()));
        return names;
    }

    private static Map<String, Object> modelObject(String id, Instant created, String parent) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", created.getEpochSecond());
        m.put("owned_by", "tailor");
        if (parent != null) {
            m.put("parent", parent);
        }
        return m;
    }
}
