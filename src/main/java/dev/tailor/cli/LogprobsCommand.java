package dev.tailor.cli;

import dev.tailor.Json;
import dev.tailor.TailorException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "logprobs", mixinStandardHelpOptions = true,
        description = "Print exact log-probabilities of each next token as JSON {\"token_ids\",\"logprobs\"}.")
final class LogprobsCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--text", description = "text, tokenized as the tokenizer does (with BOS if it adds one)")
        String text;

        @Option(names = "--token-ids", split = ",", paramLabel = "ID,ID,...")
        int[] tokenIds;
    }

    @Override
    public Integer call() {
        try (ModelOptions.LoadedModel m = modelOptions.open(input.text != null)) {
            int[] ids = input.text != null ? Prompts.fromText(m.tokenizer(), input.text) : input.tokenIds;
            if (ids.length < 2) {
                throw new TailorException("logprobs need at least 2 tokens; the input has " + ids.length);
            }
            double[] logprobs = m.model().logprobs(ids);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("token_ids", ids);
            out.put("logprobs", Arrays.stream(logprobs).boxed().toList());
            System.out.println(Json.compact(out));
            return 0;
        }
    }
}
