package dev.tailor.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A PEFT {@code adapter_config.json} for LoRA. Options that change the math and that Tailor does
 * not implement (DoRA, fan_in_fan_out, trained biases, modules_to_save) are rejected by name
 * rather than silently ignored; unknown keys are ignored as PEFT does.
 */
public record AdapterConfig(int r, double loraAlpha, double loraDropout, List<String> targetModules,
                            String targetModulesRegex, boolean useRslora, Map<String, Integer> rankPattern,
                            Map<String, Double> alphaPattern, String baseModelNameOrPath) {
    /** PEFT's shorthand for every linear layer but the output layer. */
    public static final String ALL_LINEAR = "all-linear";
    /** The PEFT release whose adapter_config.json key set {@link #toJson()} writes. */
    static final String PEFT_FORMAT_VERSION = "0.19.1";
    /** json.dumps(indent=2, sort_keys=True) as PEFT calls it: "key": value, empty {} and [], ASCII only. */
    private static final ObjectWriter PYTHON_JSON = Json.MAPPER.writer(new DefaultPrettyPrinter(
                    Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                            .withObjectEmptySeparator("").withArrayEmptySeparator(""))
                    .withObjectIndenter(new DefaultIndenter("  ", "\n"))
                    .withArrayIndenter(new DefaultIndenter("  ", "\n")))
            .with(JsonWriteFeature.ESCAPE_NON_ASCII);

    /**
     * A configuration for a new adapter, as {@code LoraConfig(task_type="CAUSAL_LM", ...)} would hold it.
     * @param targetModules short names (q_proj, ...), full module names, or "all-linear"
     */
    public static AdapterConfig forTraining(int r, double alpha, double dropout, List<String> targetModules,
                                            boolean useRslora, String baseModelNameOrPath) {
        if (r <= 0) {
            throw new TailorException("LoRA rank r=" + r + ": r must be a positive integer (typical: 8-64)");
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new TailorException("LoRA lora_alpha=" + alpha + ": alpha must be a positive number (typical: r or 2r)");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new TailorException("LoRA lora_dropout=" + dropout + ": dropout must be in [0, 1)");
        }
        if (targetModules == null || targetModules.isEmpty()) {
            throw new TailorException("LoRA target_modules is empty; name modules such as q_proj, v_proj, or use all-linear");
        }
        return new AdapterConfig(r, alpha, dropout, List.copyOf(targetModules), null, useRslora, Map.of(), Map.of(),
                baseModelNameOrPath);
    }

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
            if (t.asText().equals(ALL_LINEAR)) {
                targets.add(ALL_LINEAR);
            } else {
                regex = t.asText();
                try {
                    Pattern.compile(regex);
                } catch (PatternSyntaxException e) {
                    throw new TailorException(file + ": target_modules '" + regex + "' is not a valid regular expression: "
                            + e.getDescription());
                }
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

    /**
     * Whether PEFT would wrap {@code module}: a regex target must match the full name; a list entry
     * must equal the full name or its last components ({@code name.endsWith("." + target)}).
     */
    public boolean targets(String module) {
        if (targetModulesRegex != null) {
            return Pattern.matches(targetModulesRegex, module);
        }
        return targetModules.stream().anyMatch(t -> matches(module, t));
    }

    static boolean matches(String module, String target) {
        return target.equals(ALL_LINEAR) || module.equals(target) || module.endsWith("." + target);
    }

    /** This configuration with an explicit list of targets (what PEFT saves after resolving all-linear). */
    public AdapterConfig withTargetModules(List<String> modules) {
        return new AdapterConfig(r, loraAlpha, loraDropout, List.copyOf(modules), null, useRslora, rankPattern,
                alphaPattern, baseModelNameOrPath);
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

    /**
     * adapter_config.json byte for byte as PEFT {@value #PEFT_FORMAT_VERSION} writes it for a LoRA
     * adapter of a causal LM: every key of its LoraConfig, sorted, indent 2, no final newline. Older
     * PEFT releases drop the keys they do not know with a warning; vLLM reads only what it needs.
     */
    public String toJson() {
        ObjectNode c = Json.MAPPER.createObjectNode();
        c.putNull("alora_invocation_tokens");
        c.set("alpha_pattern", numbers(alphaPattern));
        c.putNull("arrow_config");
        c.putNull("auto_mapping");
        c.put("base_model_name_or_path", baseModelNameOrPath);
        c.put("bias", "none");
        c.putNull("corda_config");
        c.put("ensure_weight_tying", false);
        c.putNull("eva_config");
        c.putNull("exclude_modules");
        c.put("fan_in_fan_out", false);
        c.put("inference_mode", true);
        c.put("init_lora_weights", true);
        c.putNull("layer_replication");
        c.putNull("layers_pattern");
        c.putNull("layers_to_transform");
        c.putObject("loftq_config");
        c.set("lora_alpha", number(loraAlpha));
        c.put("lora_bias", false);
        c.put("lora_dropout", loraDropout);
        c.putNull("lora_ga_config");
        c.putNull("megatron_config");
        c.put("megatron_core", "megatron.core");
        c.putNull("modules_to_save");
        c.put("peft_type", "LORA");
        c.put("peft_version", PEFT_FORMAT_VERSION);
        c.put("qalora_group_size", 16);
        c.put("r", r);
        c.set("rank_pattern", numbers(rankPattern));
        c.putNull("revision");
        if (targetModulesRegex != null) {
            c.put("target_modules", targetModulesRegex);
        } else if (targetModules.equals(List.of(ALL_LINEAR))) {
            c.put("target_modules", ALL_LINEAR); // PEFT takes the shorthand only as a string
        } else {
            new TreeSet<>(targetModules).forEach(c.putArray("target_modules")::add); // PEFT saves a set: order is free
        }
        c.putNull("target_parameters");
        c.put("task_type", "CAUSAL_LM");
        c.putNull("trainable_token_indices");
        c.putNull("use_bdlora");
        c.put("use_dora", false);
        c.put("use_qalora", false);
        c.put("use_rslora", useRslora);
        try {
            return PYTHON_JSON.writeValueAsString(c);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Integral values as ints, as a Python user passes lora_alpha=16 (and as PEFT types it). */
    private static JsonNode number(double value) {
        return value == Math.rint(value) && Math.abs(value) < 1e15
                ? Json.MAPPER.getNodeFactory().numberNode((long) value) : Json.MAPPER.getNodeFactory().numberNode(value);
    }

    private static ObjectNode numbers(Map<String, ? extends Number> values) {
        ObjectNode node = Json.MAPPER.createObjectNode();
        new TreeMap<>(values).forEach((k, v) -> node.set(k, number(v.doubleValue())));
        return node;
    }
}
