package dev.tailor.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A PEFT {@code adapter_config.json} for LoRA. Options that change the math and that Tailor does
 * not implement (DoRA, fan_in_fan_out, trained biases, modules_to_save) are rejected by name
 * rather than silently ignored; unknown keys are ignored as PEFT does.
 */
public record AdapterConfig(int r, double loraAlpha, double loraDropout, List<String> targetModules,
                            String targetModulesRegex, boolean useRslora, Map<String, Integer> rankPattern,
                            Map<String, Double> alphaPattern, String baseModelNameOrPath) {

    public static AdapterConfig load(Path adapterDir) {
        Path file = adapterDir.resolve("adapter_config.json");
        if (!Files.isRegularFile(file)) {
            throw new TailorException(adapterDir + ": no adapter_config.json; --adapter must point at a PEFT LoRA adapter directory");
        }
        JsonNode c = Json.readTree(file);
        String peftType = c.path("peft_type").asText("LORA");
        if (!peftType.equals("LORA")) {
            throw new TailorException(file + ": peft_type '" + peftType + "' is not supported; only LORA adapters are");
        }
        reject(file, c.path("use_dora").asBoolean(false), "use_dora is true: DoRA adapters are not supported");
        reject(file, c.path("fan_in_fan_out").asBoolean(false), "fan_in_fan_out is true: only Llama-family (non-Conv1D) adapters are supported");
        String bias = c.path("bias").asText("none");
        reject(file, !bias.equals("none"), "bias is '" + bias + "': adapters with trained biases are not supported; train with bias=none");
        JsonNode save = c.get("modules_to_save");
        reject(file, save != null && save.isArray() && save.size() > 0,
                "modules_to_save is not empty: fully trained modules are not supported (vLLM rejects them too)");
        int r = c.path("r").asInt(8);
        reject(file, r <= 0, "r must be a positive integer");
        List<String> targets = new ArrayList<>();
        String regex = null;
        JsonNode t = c.get("target_modules");
        if (t != null && t.isArray()) {
            t.forEach(n -> targets.add(n.asText()));
        } else if (t != null && t.isTextual()) {
            if (t.asText().equals("all-linear")) {
                targets.addAll(List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"));
            } else {
                regex = t.asText();
            }
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        c.path("rank_pattern").fields().forEachRemaining(e -> ranks.put(e.getKey(), e.getValue().asInt()));
        Map<String, Double> alphas = new LinkedHashMap<>();
        c.path("alpha_pattern").fields().forEachRemaining(e -> alphas.put(e.getKey(), e.getValue().asDouble()));
        return new AdapterConfig(r, c.path("lora_alpha").asDouble(8), c.path("lora_dropout").asDouble(0),
                targets, regex, c.path("use_rslora").asBoolean(false), ranks, alphas,
                c.path("base_model_name_or_path").asText(null));
    }

    private static void reject(Path file, boolean condition, String problem) {
        if (condition) {
            throw new TailorException(file + ": " + problem);
        }
    }

    /** The rank PEFT uses for a module: rank_pattern (matched as a name suffix) or r. */
    public int rankFor(String module) {
        return lookup(rankPattern, module, r);
    }

    /** scaling = alpha / r, or alpha / sqrt(r) for rsLoRA, with alpha_pattern overrides. */
    public double scalingFor(String module) {
        int rank = rankFor(module);
        double alpha = lookup(alphaPattern, module, loraAlpha);
        return useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    /** PEFT matches pattern keys as {@code (.*\.)?key$} against the full module name. */
    private static <T> T lookup(Map<String, T> patterns, String module, T fallback) {
        for (Map.Entry<String, T> e : patterns.entrySet()) {
            if (Pattern.compile("(.*\\.)?" + e.getKey() + "$").matcher(module).matches()) {
                return e.getValue();
            }
        }
        return fallback;
    }
}
