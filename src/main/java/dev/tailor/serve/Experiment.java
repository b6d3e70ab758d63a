package dev.tailor.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tailor.TailorException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * An A/B experiment: clients send its name as {@code model}, and each request is routed to one of
 * its {@link Variant variants} by traffic weight. Immutable; {@link #stop} and {@link #fromJson}
 * return new instances.
 *
 * <p>The shape, the same in serve.yaml (a list under {@code experiments:}) and as the body of
 * {@code POST /v1/experiments}:
 * <pre>
 * name: support-ab                  # what clients send as "model"
 * control: base                     # optional; default: the first variant
 * variants:                         # at least one; names unique
 *   - {name: base, target: base, weight: 90}
 *   - name: tuned
 *     target: support-v1            # "base" or a loaded adapter's name
 *     weight: 10                    # relative: 90/10 and 0.9/0.1 split alike
 *     system_prompt: "You are ..."  # optional prompt variant: replaces the request's system message
 * ramp:                             # optional: non-control shares grow linearly from 0
 *   start: 2026-11-20T09:00:00Z
 *   duration: 48h                   # 30s, 90m, 48h, 7d or ISO-8601 (PT48H)
 * winner: tuned                     # optional: the experiment is stopped, everything goes here
 * </pre>
 *
 * <p>Assignment. Each request gets a position {@code p} in [0, 1): for a request with a
 * {@code user}, the first 53 bits of SHA-256(experiment name, newline, user), so the same user
 * gets the same variant in every process and after restarts (as long as the variants and weights
 * stay the same); without a user, a fresh random number. The variants tile [0, 1) in their order,
 * each a slot as wide as its share of the total weight. A position in the control's slot goes to
 * the control. A position at offset {@code d} into another variant's slot of width {@code w} goes
 * to that variant when {@code d < f * w}, where {@code f} is the ramp's fraction (1 without a
 * ramp), and to the control otherwise. So while a ramp grows, a user moves at most once, from the
 * control to the variant whose slot they are in, and never back or between treatments; at
 * {@code f = 1} the split is exactly the weights. A stopped experiment ({@code winner}) sends
 * every request to the winner.
 */
public final class Experiment {
    /** Names go into URLs and the X-Tailor-Variant header: keep them plain. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> KEYS = Set.of("name", "control", "variants", "ramp", "winner");
    private static final Set<String> VARIANT_KEYS = Set.of("name", "target", "weight", "system_prompt");
    private static final Set<String> RAMP_KEYS = Set.of("start", "duration");

    private final String name;
    private final List<Variant> variants;
    private final Variant control;
    private final Variant winner;
    private final Ramp ramp;
    private final double totalWeight;

    private Experiment(String name, List<Variant> variants, Variant control, Variant winner, Ramp ramp) {
        this.name = name;
        this.variants = List.copyOf(variants);
        this.control = control;
        this.winner = winner;
        this.ramp = ramp;
        this.totalWeight = variants.stream().mapToDouble(Variant::weight).sum();
    }

    /**
     * Reads and validates an experiment (the shape in the class comment). Errors are one line that
     * starts with {@code source} (e.g. "serve.yaml: experiments[0]") and names the field.
     */
    public static Experiment fromJson(JsonNode node, String source) {
        return new Parser(source).experiment(node);
    }

    /** {@link #fromJson} of a JSON or YAML text. */
    public static Experiment parse(String text, String source) {
        try {
            return fromJson(YAML.readTree(text), source);
        } catch (JsonProcessingException e) {
            String line = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr();
            throw new TailorException(source + ": not valid YAML or JSON" + line + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
    }

    public String name() {
        return name;
    }

    public List<Variant> variants() {
        return variants;
    }

    public Variant control() {
        return control;
    }

    /** The variant a stopped experiment sends everything to; null while it runs. */
    public Variant winner() {
        return winner;
    }

    /** Null when the experiment starts at full weights. */
    public Ramp ramp() {
        return ramp;
    }

    public Variant variant(String variantName) {
        return variants.stream().filter(v -> v.name().equals(variantName)).findFirst()
                .orElseThrow(() -> new TailorException("experiment '" + name + "' has no variant '" + variantName
                        + "'; its variants: " + String.join(", ", variantNames())));
    }

    /** The same experiment, stopped: every request goes to {@code winnerName} from now on. */
    public Experiment stop(String winnerName) {
        return new Experiment(name, variants, control, variant(winnerName), ramp);
    }

    /** "stopped", "ramping" (a ramp not yet complete at {@code now}) or "running". */
    public String status(Instant now) {
        if (winner != null) {
            return "stopped";
        }
        return ramp != null && ramp.fraction(now) < 1 ? "ramping" : "running";
    }

    /** The variant for a request: sticky by {@code user}, random when it is null or empty. */
    public Variant assign(String user, Instant now) {
        double position = user == null || user.isEmpty() ? ThreadLocalRandom.current().nextDouble() : position(name, user);
        return variantAt(position, now);
    }

    /** The variant at a position in [0, 1) at {@code now} (the rule in the class comment). */
    public Variant variantAt(double position, Instant now) {
        if (!(position >= 0 && position < 1)) {
            throw new IllegalArgumentException("a position is in [0, 1), got " + position);
        }
        if (winner != null) {
            return winner;
        }
        double fraction = ramp == null ? 1 : ramp.fraction(now);
        double slotStart = 0;
        for (Variant v : variants) {
            double width = v.weight() / totalWeight;
            if (position < slotStart + width) {
                return v == control || position - slotStart < fraction * width ? v : control;
            }
            slotStart += width;
        }
        return variants.get(variants.size() - 1); // rounding left the last slot a hair short of 1
    }

    /** Each variant's share of the traffic at {@code now}, in variant order; the shares add up to 1. */
    public Map<String, Double> shares(Instant now) {
        Map<String, Double> out = new LinkedHashMap<>();
        if (winner != null) {
            variants.forEach(v -> out.put(v.name(), v == winner ? 1.0 : 0.0));
            return out;
        }
        double fraction = ramp == null ? 1 : ramp.fraction(now);
        double notYetRamped = 0;
        for (Variant v : variants) {
            double full = v.weight() / totalWeight;
            out.put(v.name(), v == control ? full : fraction * full);
            notYetRamped += v == control ? 0 : (1 - fraction) * full;
        }
        out.merge(control.name(), notYetRamped, Double::sum);
        return out;
    }

    /** The sticky position of a user in an experiment: SHA-256(name + "\n" + user), first 53 bits, in [0, 1). */
    public static double position(String experimentName, String user) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((experimentName + "\n" + user).getBytes(StandardCharsets.UTF_8));
            return (ByteBuffer.wrap(digest).getLong() >>> 11) * 0x1.0p-53;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /**
     * Checks the experiment against what the server serves: every target is one of
     * {@code models} (base and the loaded adapters), and the experiment's name is none of them
     * (clients could not reach it as a model otherwise).
     */
    public void checkTargets(Collection<String> models) {
        if (models.contains(name)) {
            throw new TailorException("experiment '" + name + "': its name is already a model's; rename the experiment");
        }
        for (Variant v : variants) {
            if (!models.contains(v.target())) {
                throw new TailorException("experiment '" + name + "', variant '" + v.name() + "': target '" + v.target()
                        + "' is not served; serve it first or pick one of: " + String.join(", ", models));
            }
        }
    }

    /** The experiment in the shape {@link #fromJson} reads (serve.yaml, {@code POST /v1/experiments}). */
    public Map<String, Object> toJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", name);
        out.put("control", control.name());
        out.put("variants", variants.stream().map(Variant::toJson).toList());
        if (ramp != null) {
            Map<String, Object> rampJson = new LinkedHashMap<>();
            rampJson.put("start", ramp.start().toString());
            rampJson.put("duration", ramp.duration().toString());
            out.put("ramp", rampJson);
        }
        if (winner != null) {
            out.put("winner", winner.name());
        }
        return out;
    }

    private List<String> variantNames() {
        return variants.stream().map(Variant::name).toList();
    }

    /** Reads the JSON shape, each error naming the source and the field. */
    private static final class Parser extends ConfigReader {
        Parser(String source) {
            super(source);
        }

        Experiment experiment(JsonNode node) {
            requireObject(node, "the experiment", "an object with name and variants");
            checkKeys(node, KEYS, "");
            String name = name(node.get("name"), "name");
            JsonNode list = node.get("variants");
            if (list == null || !list.isArray() || list.isEmpty()) {
                throw error("variants: give a list of at least one variant (name, target, weight)");
            }
            List<Variant> variants = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < list.size(); i++) {
                Variant v = variant(list.get(i), "variants[" + i + "]");
                if (!seen.add(v.name())) {
                    throw error("variants[" + i + "].name: '" + v.name() + "' is used twice; variant names must be unique");
                }
                variants.add(v);
            }
            Variant control = pick(node.get("control"), "control", variants, variants.get(0));
            Variant winner = pick(node.get("winner"), "winner", variants, null);
            Ramp ramp = ramp(node.get("ramp"));
            return new Experiment(name, variants, control, winner, ramp);
        }

        private Variant variant(JsonNode node, String field) {
            requireObject(node, field, "an object with name, target and weight");
            checkKeys(node, VARIANT_KEYS, field + ".");
            String name = name(node.get("name"), field + ".name");
            JsonNode target = node.get("target");
            if (target == null || !target.isTextual() || target.asText().isBlank()) {
                throw error(field + ".target: name the model it routes to: \"base\" or an adapter's name");
            }
            JsonNode weight = node.get("weight");
            if (weight == null || !weight.isNumber() || !(weight.doubleValue() > 0) || Double.isInfinite(weight.doubleValue())) {
                throw error(field + ".weight: must be a number > 0 (a relative share such as 90 or 0.1), got "
                        + (weight == null ? "nothing" : weight.toString()));
            }
            JsonNode prompt = node.get("system_prompt");
            if (prompt != null && !prompt.isNull() && (!prompt.isTextual() || prompt.asText().isEmpty())) {
                throw error(field + ".system_prompt: must be a non-empty string (leave it out to keep the request's own)");
            }
            return new Variant(name, target.asText(), prompt == null || prompt.isNull() ? null : prompt.asText(),
                    weight.doubleValue());
        }

        private Ramp ramp(JsonNode node) {
            if (node == null || node.isNull()) {
                return null;
            }
            requireObject(node, "ramp", "an object with start and duration");
            checkKeys(node, RAMP_KEYS, "ramp.");
            Instant start;
            try {
                start = Instant.parse(text(node.get("start"), "ramp.start"));
            } catch (java.time.format.DateTimeParseException e) {
                throw error("ramp.start: '" + node.get("start").asText() + "' is not an ISO-8601 UTC time such as 2026-11-20T09:00:00Z");
            }
            String duration = text(node.get("duration"), "ramp.duration");
            try {
                return new Ramp(start, Durations.parse(duration));
            } catch (IllegalArgumentException e) {
                throw error("ramp.duration: '" + duration + "' is not a positive duration such as 30s, 90m, 48h, 7d or PT48H");
            }
        }

        private Variant pick(JsonNode node, String field, List<Variant> variants, Variant absent) {
            if (node == null || node.isNull()) {
                return absent;
            }
            String wanted = text(node, field);
            return variants.stream().filter(v -> v.name().equals(wanted)).findFirst()
                    .orElseThrow(() -> error(field + ": '" + wanted + "' is not one of the variants ("
                            + String.join(", ", variants.stream().map(Variant::name).toList()) + ")"));
        }

        private String name(JsonNode node, String field) {
            String value = text(node, field);
            if (!NAME.matcher(value).matches()) {
                throw error(field + ": '" + value + "' must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");
            }
            return value;
        }
    }
}
