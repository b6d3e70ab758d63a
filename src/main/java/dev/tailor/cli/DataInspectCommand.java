package dev.tailor.cli;

import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.data.Dataset;
import dev.tailor.data.Example;
import dev.tailor.data.TokenizedExample;
import dev.tailor.model.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The label viewer: one example exactly as the trainer sees it (the same {@link ChatEncoder}),
 * token by token, with the trained tokens marked, so a broken loss mask is seen before training.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show an example's tokens as training sees them, marking which are trained (labels) and which are masked.")
final class DataInspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "training examples (JSONL)")
    Path file;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "model whose tokenizer and chat template training uses")
    Path model;

    @Option(names = "--index", defaultValue = "0", description = "0-based example number (default: ${DEFAULT-VALUE})")
    int index;

    @Option(names = "--max-seq-len", defaultValue = "512", description = "truncation, as in training (default: ${DEFAULT-VALUE})")
    int maxSeqLen;

    @Option(names = "--json", description = "print one JSON object instead of the table")
    boolean json;

    @Override
    public Integer call() {
        Dataset dataset = Dataset.load(file);
        if (index < 0 || index >= dataset.size()) {
            throw new TailorException("--index " + index + ": " + file + " has " + dataset.size() + " examples (0.." + (dataset.size() - 1) + ")");
        }
        if (maxSeqLen < 2) {
            throw new TailorException("--max-seq-len must be at least 2");
        }
        Example example = dataset.examples().get(index);
        try (Tokenizer tokenizer = Tokenizer.fromModelDir(model)) {
            TokenizedExample t = new ChatEncoder(ChatTemplate.fromModelDir(model), tokenizer).encode(example, maxSeqLen);
            List<String> pieces = new ArrayList<>();
            for (int id : t.ids()) {
                pieces.add(tokenizer.decode(new int[] {id}, false));
            }
            if (json) {
                printJson(example, t, pieces);
            } else {
                printTable(example, t, pieces, tokenizer);
            }
        }
        return 0;
    }

    private void printTable(Example example, TokenizedExample t, List<String> pieces, Tokenizer tokenizer) {
        int trained = t.trainedTokens();
        System.out.printf(Locale.ROOT, "%s line %d (example %d): %d tokens, %d trained (%.1f%%)%s%n", file, example.line(), index,
                t.ids().length, trained, 100.0 * trained / t.ids().length, t.truncated() ? ", truncated to --max-seq-len" : "");
        System.out.println("  pos      id  trained  token");
        for (int i = 0; i < t.ids().length; i++) {
            boolean isTrained = t.labels()[i] != ChatEncoder.IGNORE;
            boolean special = tokenizer.specialIds().contains(t.ids()[i]);
            System.out.printf(Locale.ROOT, "%5d %7d  %-7s  %s%s%n", i, t.ids()[i], isTrained ? "yes" : "-", Json.compact(pieces.get(i)),
                    special ? "  (special)" : "");
        }
        System.out.println();
        System.out.println("rendered, trained text in [[ ]]:");
        StringBuilder text = new StringBuilder();
        boolean open = false;
        for (int i = 0; i < pieces.size(); i++) {
            boolean isTrained = t.labels()[i] != ChatEncoder.IGNORE;
            if (isTrained != open) {
                text.append(isTrained ? "[[" : "]]");
                open = isTrained;
            }
            text.append(pieces.get(i));
        }
        System.out.println(text.append(open ? "]]" : ""));
    }

    private void printJson(Example example, TokenizedExample t, List<String> pieces) {
        List<Map<String, Object>> tokens = new ArrayList<>();
        for (int i = 0; i < t.ids().length; i++) {
            Map<String, Object> token = new LinkedHashMap<>();
            token.put("id", t.ids()[i]);
            token.put("text", pieces.get(i));
            token.put("trained", t.labels()[i] != ChatEncoder.IGNORE);
            tokens.add(token);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("file", file.toString());
        out.put("line", example.line());
        out.put("index", index);
        out.put("tokens", tokens);
        out.put("trained_tokens", t.trainedTokens());
        out.put("truncated", t.truncated());
        System.out.println(Json.compact(out));
    }
}
