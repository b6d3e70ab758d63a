package dev.tailor.cli;

import dev.tailor.model.SamplingParams;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Option;

/** Sampling flags; unset flags keep the model's generation_config.json defaults. */
final class SamplingOptions {
    @Option(names = "--temperature", description = "0 = greedy")
    Double temperature;

    @Option(names = "--top-p")
    Double topP;

    @Option(names = "--top-k", description = "0 = off")
    Integer topK;

    @Option(names = "--min-p")
    Double minP;

    @Option(names = "--repetition-penalty")
    Double repetitionPenalty;

    @Option(names = "--seed")
    Long seed;

    @Option(names = "--max-tokens", description = "most tokens to generate (default: max_new_tokens of generation_config.json, else 256)")
    Integer maxTokens;

    @Option(names = "--stop", paramLabel = "TEXT", description = "stop when this text is generated (repeatable); it is not printed")
    List<String> stop = new ArrayList<>();

    @Option(names = "--stop-token-id", paramLabel = "ID", split = ",", description = "additional stop token ids (eos ids always stop)")
    List<Integer> stopTokenIds = new ArrayList<>();

    SamplingParams apply(SamplingParams defaults) {
        SamplingParams p = defaults.withOverrides(temperature, topP, topK, minP, repetitionPenalty, seed);
        if (maxTokens != null) {
            p = p.withMaxTokens(maxTokens);
        }
        if (!stop.isEmpty()) {
            p = p.withStop(stop);
        }
        if (!stopTokenIds.isEmpty()) {
            Set<Integer> ids = new HashSet<>(p.stopTokenIds());
            ids.addAll(stopTokenIds);
            p = p.withStopTokenIds(ids);
        }
        return p;
    }
}
