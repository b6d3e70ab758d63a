package dev.tailor.eval;

import dev.tailor.TailorException;
import dev.tailor.data.Batch;
import dev.tailor.data.Batcher;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.Example;
import dev.tailor.data.TokenizedExample;
import dev.tailor.model.Completion;
import dev.tailor.model.Generator;
import dev.tailor.model.Model;
import dev.tailor.model.SamplingParams;
import dev.tailor.model.Tokenizer;
import dev.tailor.train.Validation;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Held-out evaluation of a chat model (base, or base with an adapter attached): greedy answers to
 * each example's prompt compared with its reference answer (the last assistant message), plus the
 * loss and token accuracy of the references under the model. Exact match is what a user of a
 * classification or extraction task means by "correct"; format compliance counts answers that are
 * at least one of the allowed ones.
 */
public final class Evaluator {
    /** One example's prompt (last user message), its reference and the model's answer. */
    public record Answer(String prompt, String reference, String output) {
        public boolean exact() {
            return output.strip().equals(reference.strip());
        }
    }

    public record Report(int examples, double exactMatch, double formatCompliance, double loss, double tokenAccuracy,
                         List<Answer> answers) {}

    private static final int GENERATION_BATCH = 8;

    private final Model model;
    private final Tokenizer tokenizer;
    private final ChatEncoder encoder;
    private final Set<Integer> stopTokenIds;

    public Evaluator(Model model, Tokenizer tokenizer, ChatEncoder encoder, Set<Integer> stopTokenIds) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.encoder = encoder;
        this.stopTokenIds = stopTokenIds;
    }

    /**
     * @param allowed the valid answers for format compliance, or an empty set to skip it
     * @param maxTokens longest answer generated
     */
    public Report evaluate(List<Example> examples, Set<String> allowed, int maxTokens, int maxSeqLen, int padId) {
        List<int[]> prompts = new ArrayList<>();
        List<Answer> answers = new ArrayList<>();
        List<TokenizedExample> encoded = new ArrayList<>();
        for (Example e : examples) {
            if (e.kind() != Example.Kind.CHAT || e.messages().isEmpty() || !"assistant".equals(role(e.messages(), e.messages().size() - 1))) {
                throw new TailorException("line " + e.line() + ": evaluation needs chat examples that end with the reference assistant answer");
            }
            List<Map<String, Object>> context = e.messages().subList(0, e.messages().size() - 1);
            prompts.add(encoder.encodePrompt(context, e.tools()));
            encoded.add(encoder.encode(e, maxSeqLen));
        }
        SamplingParams greedy = SamplingParams.greedy(maxTokens, stopTokenIds);
        Generator generator = new Generator(model, tokenizer);
        for (int start = 0; start < prompts.size(); start += GENERATION_BATCH) {
            List<int[]> chunk = prompts.subList(start, Math.min(prompts.size(), start + GENERATION_BATCH));
            List<Completion> outputs = generator.generate(chunk, greedy, (sequence, delta) -> { });
            for (int i = 0; i < outputs.size(); i++) {
                List<Map<String, Object>> messages = examples.get(start + i).messages();
                answers.add(new Answer(text(messages, messages.size() - 2), text(messages, messages.size() - 1), outputs.get(i).text()));
            }
        }
        long exact = answers.stream().filter(Answer::exact).count();
        long compliant = answers.stream().filter(a -> allowed.contains(a.output().strip())).count();
        List<Batch> batches = Batcher.epoch(encoded, 0, 0, GENERATION_BATCH, maxSeqLen, false, false, padId);
        Validation.Result loss = Validation.evaluate(model, batches);
        int n = answers.size();
        return new Report(n, (double) exact / n, allowed.isEmpty() ? Double.NaN : (double) compliant / n,
                loss.loss(), loss.tokenAccuracy(), answers);
    }

    private static String role(List<Map<String, Object>> messages, int i) {
        return String.valueOf(messages.get(i).get("role"));
    }

    private static String text(List<Map<String, Object>> messages, int i) {
        return i < 0 ? "" : String.valueOf(messages.get(i).get("content"));
    }
}
