package dev.tailor.model;

import dev.tailor.AtomicFiles;
import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.SafetensorsEntry;
import dev.tailor.tensor.SafetensorsFile;
import dev.tailor.tensor.SafetensorsWriter;
import dev.tailor.tensor.Tensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A LoRA adapter in PEFT format ({@code adapter_config.json} + {@code adapter_model.safetensors}):
 * loaded and validated against the model it is for (every key must name a linear layer of that
 * model and every shape must fit it, checked before any tensor is created), or created fresh for
 * training. The adapter owns its weights.
 */
public final class Adapter implements TrainableWeights, AutoCloseable {
    private static final String PREFIX = "base_model.model.";
    private static final String WEIGHTS_FILE = "adapter_model.safetensors";
    private static final String CONFIG_FILE = "adapter_config.json";
    /** vLLM's largest --max-lora-rank: an adapter above it cannot be served (SPECS.md, lesson 9). */
    public static final int MAX_SERVABLE_RANK = 512;

    /** Where the adapter was loaded from; null for one created in memory. */
    public final Path directory;
    public final AdapterConfig config;
    private final Map<String, LoraWeights> byModule;

    private Adapter(Path directory, AdapterConfig config, Map<String, LoraWeights> byModule) {
        this.directory = directory;
        this.config = config;
        this.byModule = byModule;
    }

    /**
     * A fresh trainable adapter for {@code model}, initialised as PEFT does: for each targeted linear
     * layer A [r, in] drawn from kaiming-uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and
     * B [out, r] zeros, so the adapter starts as the identity. fp32, requiring gradients. Each
     * layer's A comes from its own stream seeded by {@code seed} and the module name: the same seed
     * gives the same A whatever else is targeted.
     */
    public static Adapter create(Model model, AdapterConfig config, long seed) {
        Map<String, Linear> linears = model.linearLayers();
        AdapterConfig resolved = resolveTargets(model, linears, config);
        List<String> modules = linears.keySet().stream().filter(resolved::targets).toList();
        for (String module : modules) {
            checkRank(module, resolved.rankFor(module), linears.get(module));
        }
        Map<String, LoraWeights> created = new LinkedHashMap<>();
        try {
            for (String module : modules) {
                Linear target = linears.get(module);
                int rank = resolved.rankFor(module);
                try (PointerScope scope = new PointerScope()) {
                    Tensor a = trainable(kaimingUniform(module, rank, target.inFeatures(), seed), model);
                    Tensor b = trainable(torch.zeros(target.outFeatures(), rank), model);
                    created.put(module, new LoraWeights(a, b, resolved.scalingFor(module)));
                }
            }
        } catch (RuntimeException e) {
            created.values().forEach(LoraWeights::close);
            throw e;
        }
        return new Adapter(null, resolved, created);
    }

    /** Checks every target names a layer of the model; all-linear becomes the short names PEFT would save. */
    private static AdapterConfig resolveTargets(Model model, Map<String, Linear> linears, AdapterConfig config) {
        Set<String> shortNames = shortNames(linears.keySet());
        String available = "; the linear layers of this model are " + String.join(", ", shortNames);
        if (config.targetModulesRegex() != null) {
            if (linears.keySet().stream().noneMatch(config::targets)) {
                throw new TailorException("LoRA target_modules regex '" + config.targetModulesRegex() + "' matches no linear layer of "
                        + model.directory + available);
            }
            return config;
        }
        List<String> targets = new ArrayList<>();
        for (String t : config.targetModules()) {
            if (t.equals(AdapterConfig.ALL_LINEAR)) {
                targets.addAll(shortNames); // the output layer (lm_head) is not among the model's linear layers
            } else if (linears.keySet().stream().anyMatch(m -> AdapterConfig.matches(m, t))) {
                targets.add(t);
            } else {
                throw new TailorException("LoRA target module '" + t + "' matches no linear layer of " + model.directory + available);
            }
        }
        return config.withTargetModules(new ArrayList<>(new LinkedHashSet<>(targets)));
    }

    /** The last components of module names (q_proj, ...), in order of first appearance. */
    private static Set<String> shortNames(Set<String> modules) {
        Set<String> names = new LinkedHashSet<>();
        modules.forEach(m -> names.add(m.substring(m.lastIndexOf('.') + 1)));
        return names;
    }

    private static void checkRank(String module, int rank, Linear target) {
        long limit = Math.min(target.inFeatures(), target.outFeatures());
        if (rank <= 0 || rank > limit) {
            throw new TailorException("LoRA rank r=" + rank + " does not fit " + module + " (in=" + target.inFeatures() + ", out="
                    + target.outFeatures() + "): r must be between 1 and " + limit);
        }
        checkServable(module, rank);
    }

    private static void checkServable(String module, int rank) {
        if (rank > MAX_SERVABLE_RANK) {
            throw new TailorException("LoRA rank r=" + rank + " of " + module + " is above " + MAX_SERVABLE_RANK
                    + ", the largest rank vLLM serves (--max-lora-rank); choose r <= " + MAX_SERVABLE_RANK);
        }
    }

    /** kaiming_uniform_(a=sqrt(5)) on [r, in]: gain sqrt(2/(1+5)), bound = gain * sqrt(3/in) = 1/sqrt(in). */
    private static Tensor kaimingUniform(String module, int rank, long in, long seed) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + module.hashCode());
        double bound = 1 / Math.sqrt(in);
        float[] values = new float[Math.toIntExact(rank * in)];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) ((2 * random.nextDouble() - 1) * bound);
        }
        return Tensors.fromFloats(values, rank, in);
    }

    /** A CPU fp32 tensor moved to the model's device as a leaf that requires gradients, kept out of the scope. */
    private static Tensor trainable(Tensor cpu, Model model) {
        Tensor t = cpu.to(model.device.torchDevice(), torch.ScalarType.Float).detach();
        t.set_requires_grad(true);
        return Tensors.keep(t);
    }

    public static Adapter load(Path dir, Model model) {
        AdapterConfig config = AdapterConfig.load(dir);
        Path file = dir.resolve(WEIGHTS_FILE);
        if (!Files.isRegularFile(file)) {
            throw new TailorException(dir + ": no " + WEIGHTS_FILE + " (PyTorch .bin adapters are not read; "
                    + "re-save with safe_serialization=True)");
        }
        Map<String, Linear> linears = model.linearLayers();
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            Map<String, String[]> pairs = pairKeys(weights, file, linears);
            Map<String, LoraWeights> loaded = new LinkedHashMap<>();
            for (Map.Entry<String, String[]> e : pairs.entrySet()) {
                String module = e.getKey();
                Linear target = linears.get(module);
                SafetensorsEntry a = weights.entry(e.getValue()[0]);
                SafetensorsEntry b = weights.entry(e.getValue()[1]);
                long rank = a.shape().length == 2 ? a.shape()[0] : -1;
                checkShape(file, a, rank, target.inFeatures());
                checkShape(file, b, target.outFeatures(), rank);
                if (rank != config.rankFor(module)) {
                    throw new TailorException(file + ": " + a.name() + " has rank " + rank + " but adapter_config.json says r="
                            + config.rankFor(module) + "; the config does not belong to these weights");
                }
                checkServable(module, (int) rank);
                loaded.put(module, new LoraWeights(loadF32(weights, a, model), loadF32(weights, b, model), config.scalingFor(module)));
            }
            return new Adapter(dir, config, loaded);
        }
    }

    /** Groups lora_A/lora_B keys by module, rejecting anything that is not a LoRA pair of a known module. */
    private static Map<String, String[]> pairKeys(SafetensorsFile weights, Path file, Map<String, Linear> linears) {
        Map<String, String[]> pairs = new TreeMap<>();
        for (String key : weights.names()) {
            // PEFT strips the adapter name when saving; tolerate a leftover ".default." when reading
            String k = key.replace(".default.weight", ".weight");
            int slot = k.endsWith(".lora_A.weight") ? 0 : k.endsWith(".lora_B.weight") ? 1 : -1;
            if (slot < 0 || !k.startsWith(PREFIX)) {
                throw new TailorException(file + ": unexpected tensor '" + key + "'; a PEFT LoRA adapter holds only "
                        + "base_model.model.<module>.lora_A.weight / lora_B.weight");
            }
            String module = k.substring(PREFIX.length(), k.length() - ".lora_A.weight".length());
            if (!linears.containsKey(module)) {
                throw new TailorException(file + ": tensor '" + key + "' targets '" + module
                        + "', which is not a linear layer of this model; was the adapter trained for another base model?");
            }
            pairs.computeIfAbsent(module, m -> new String[2])[slot] = key;
        }
        for (Map.Entry<String, String[]> e : pairs.entrySet()) {
            if (e.getValue()[0] == null || e.getValue()[1] == null) {
                throw new TailorException(file + ": module '" + e.getKey() + "' has only one of lora_A/lora_B");
            }
        }
        if (pairs.isEmpty()) {
            throw new TailorException(file + ": the adapter holds no LoRA weights");
        }
        return pairs;
    }

    private static void checkShape(Path file, SafetensorsEntry e, long rows, long cols) {
        long[] expected = {rows, cols};
        if (!Arrays.equals(e.shape(), expected) || rows <= 0) {
            throw new TailorException(file + ": " + e.name() + " has shape " + Arrays.toString(e.shape()) + ", expected "
                    + Arrays.toString(expected) + " for this base model; was the adapter trained for another base model?");
        }
        if (!e.dtype().isFloatingPoint()) {
            throw new TailorException(file + ": " + e.name() + " has dtype " + e.dtype().safetensorsName + "; LoRA weights must be floating point");
        }
    }

    private static Tensor loadF32(SafetensorsFile weights, SafetensorsEntry e, Model model) {
        try (PointerScope scope = new PointerScope()) {
            return Tensors.keep(weights.load(e.name(), DType.F32).to(model.device.torchDevice(), DType.F32.scalarType()));
        }
    }

    public Map<String, LoraWeights> modules() {
        return byModule;
    }

    /** The trainable tensors by name, {@code MODULE.lora_A} and {@code MODULE.lora_B}; owned by this adapter. */
    @Override
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> params = new LinkedHashMap<>();
        byModule.forEach((module, w) -> {
            params.put(module + ".lora_A", w.a());
            params.put(module + ".lora_B", w.b());
        });
        return params;
    }

    @Override
    public long parameterCount() {
        return byModule.values().stream().mapToLong(w -> w.a().numel() + w.b().numel()).sum();
    }

    /** {@link #save(Path, DType)} in fp32, as PEFT saves adapters trained in fp32. */
    @Override
    public void save(Path dir) {
        save(dir, DType.F32);
    }

    /**
     * Writes {@code adapter_config.json} and {@code adapter_model.safetensors} into {@code dir} as
     * PEFT saves them (keys {@code base_model.model.MODULE.lora_A.weight}, no adapter name), each
     * file atomically. First checks what vLLM would refuse to load, so an adapter that cannot be
     * served fails here rather than at deployment: ranks above {@value #MAX_SERVABLE_RANK}, keys that
     * are not LoRA weights, and weights that are not finite.
     */
    public void save(Path dir, DType dtype) {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new TailorException("adapter dtype " + dtype.safetensorsName + ": save adapters as F32, BF16 or F16");
        }
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new TreeMap<>();
            byModule.forEach((module, w) -> {
                checkServable(module, w.rank());
                tensors.put(PREFIX + module + ".lora_A.weight", exported(module, "lora_A", w.a(), dtype));
                tensors.put(PREFIX + module + ".lora_B.weight", exported(module, "lora_B", w.b(), dtype));
            });
            for (String key : tensors.keySet()) {
                // vLLM accepts only these names; a leftover ".default." (PEFT's adapter name) breaks it
                if (!key.matches("base_model\\.model\\.[\\w.]+\\.lora_[AB]\\.weight") || key.contains(".default.")) {
                    throw new TailorException("adapter tensor '" + key + "' is not a PEFT LoRA key that vLLM loads");
                }
            }
            Files.createDirectories(dir);
            SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of());
            // a loaded config may still say all-linear; what was adapted is what vLLM needs to read
            AdapterConfig saved = config.targetModules().contains(AdapterConfig.ALL_LINEAR)
                    ? config.withTargetModules(new ArrayList<>(shortNames(byModule.keySet()))) : config;
            AtomicFiles.writeString(dir.resolve(CONFIG_FILE), saved.toJson());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }

    /** A detached CPU copy in the file's dtype, refusing NaN or infinity (a diverged training run). */
    private static Tensor exported(String module, String part, Tensor t, DType dtype) {
        Tensor out = t.detach().to(Device.CPU.torchDevice(), dtype.scalarType());
        if (!torch.isfinite(out).all().item_bool()) {
            throw new TailorException("adapter weights " + module + "." + part + " contain NaN or infinity "
                    + "(training diverged?); lower the learning rate and resume from an earlier checkpoint");
        }
        return out;
    }

    @Override
    public void close() {
        byModule.values().forEach(LoraWeights::close);
    }
}
