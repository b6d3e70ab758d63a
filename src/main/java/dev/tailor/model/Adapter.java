package dev.tailor.model;

import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.SafetensorsEntry;
import dev.tailor.tensor.SafetensorsFile;
import dev.tailor.tensor.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A LoRA adapter in PEFT format ({@code adapter_config.json} + {@code adapter_model.safetensors}),
 * validated against the model it is loaded for: every key must name a linear layer of that model
 * and every shape must fit it, checked before any tensor is created. The adapter owns its weights.
 */
public final class Adapter implements AutoCloseable {
    private static final String PREFIX = "base_model.model.";

    public final Path directory;
    public final AdapterConfig config;
    private final Map<String, LoraWeights> byModule;

    private Adapter(Path directory, AdapterConfig config, Map<String, LoraWeights> byModule) {
        this.directory = directory;
        this.config = config;
        this.byModule = byModule;
    }

    public static Adapter load(Path dir, Model model) {
        AdapterConfig config = AdapterConfig.load(dir);
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new TailorException(dir + ": no adapter_model.safetensors (PyTorch .bin adapters are not read; "
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

    @Override
    public void close() {
        byModule.values().forEach(LoraWeights::close);
    }
}
