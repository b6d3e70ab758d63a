package dev.tailor.train;

import dev.tailor.data.Batch;
import dev.tailor.model.Model;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

/** Mean next-token loss and token accuracy over held-out batches, without dropout or autograd. */
public final class Validation {
    /** @param loss mean cross-entropy per trained token; @param tokenAccuracy share of trained tokens predicted exactly (argmax) */
    public record Result(double loss, double tokenAccuracy, long tokens) {}

    private Validation() {}

    public static Result evaluate(Model model, List<Batch> batches) {
        double sum = 0;
        long tokens = 0;
        long correct = 0;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            for (Batch batch : batches) {
                try (PointerScope scope = new PointerScope()) {
                    TokenLoss.Result r = TokenLoss.evaluate(model, batch);
                    sum += r.sum();
                    tokens += r.tokens();
                    correct += r.correct();
                }
            }
        }
        return tokens == 0 ? new Result(Double.NaN, Double.NaN, 0) : new Result(sum / tokens, (double) correct / tokens, tokens);
    }
}
