package dev.tailor.train;

import dev.tailor.data.Batch;
import dev.tailor.model.Model;
import dev.tailor.model.TrainingPass;
import dev.tailor.tensor.LogitRows;
import dev.tailor.tensor.SegmentAttention;
import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Next-token cross-entropy of one batch, summed over its trained tokens (callers divide by the
 * token count of the whole accumulated step: transformers #34191). Position i predicts label i+1
 * of the same example. Logits exist only at positions that carry a loss, and only
 * {@link Model#LOGIT_CHUNK} rows at a time: with a 152k vocabulary, fp32 logits, their log-softmax
 * and gradient for every trained position of a batch took gigabytes. The loss and its gradient
 * come from {@link LogitRows#crossEntropy} on the logits in the model's dtype, as transformers
 * computes them (fp32 math on the lm_head's output). Backward runs per chunk into
 * the final hidden states, then through the model layer by layer ({@link TrainingPass#backward}).
 */
final class TokenLoss {
    private static final int IGNORE = -100;

    /** The summed loss, the trained tokens and how many of them the argmax predicts. */
    record Result(double sum, long tokens, long correct) {}

    private TokenLoss() {}

    /** The loss without gradients (validation). */
    static Result evaluate(Model model, Batch batch) {
        return run(model, batch, 0);
    }

    /** The loss, with the gradient of {@code sum / divisor} accumulated into every trainable parameter. */
    static Result backward(Model model, Batch batch, double divisor) {
        return run(model, batch, divisor);
    }

    private static Result run(Model model, Batch batch, double divisor) {
        long[] targets = shiftedTargets(batch);
        long[] rows = IntStream.range(0, targets.length).filter(i -> targets[i] != IGNORE).asLongStream().toArray();
        if (rows.length == 0) {
            return new Result(0, 0, 0);
        }
        Tensor ids = onDevice(model, batch.ids(), batch.rows(), batch.length());
        Tensor positions = onDevice(model, batch.positions(), batch.rows(), batch.length());
        int maxPosition = (int) Arrays.stream(batch.positions()).max().orElse(0);
        TrainingPass pass = model.trainingPass(ids, positions, SegmentAttention.Segments.of(batch.segments(), batch.rows(), batch.length()),
                maxPosition);
        Tensor hidden = pass.hidden();
        Tensor selected = onDevice(model, rows, rows.length);
        long[] wanted = pick(targets, rows);
        Tensor trained = hidden.reshape(-1, hidden.size(2)).index_select(0, selected);
        boolean learn = divisor > 0 && trained.requires_grad();
        Tensor leaf = learn ? trained.detach().requires_grad_(true) : trained;
        double sum = 0;
        long correct = 0;
        for (int start = 0; start < rows.length; start += Model.LOGIT_CHUNK) {
            int n = Math.min(Model.LOGIT_CHUNK, rows.length - start);
            try (PointerScope chunk = new PointerScope()) {
                Tensor logits = model.headLogits(leaf.narrow(0, start, n));
                long[] want = Arrays.copyOfRange(wanted, start, start + n);
                // with learn, the gradient of loss / divisor overwrites the logits, whose backward does not read them
                LogitRows.CrossEntropy loss = LogitRows.crossEntropy(logits.detach(), want, learn ? 1 / divisor : 0);
                if (learn) {
                    logits.backward(logits.detach(), new BoolOptional(), false, new TensorArrayRefOptional());
                }
                sum += loss.sum();
                correct += loss.correct(want);
            }
        }
        if (learn) {
            pass.backward(trained, leaf.grad());
        }
        return new Result(sum, rows.length, correct);
    }

    /** targets[i] = labels[i+1] when i+1 belongs to the same example as i, else ignored. */
    static long[] shiftedTargets(Batch batch) {
        long[] targets = new long[batch.rows() * batch.length()];
        Arrays.fill(targets, IGNORE);
        for (int r = 0; r < batch.rows(); r++) {
            for (int i = 0; i + 1 < batch.length(); i++) {
                int at = r * batch.length() + i;
                if (batch.segments()[at] != 0 && batch.segments()[at + 1] == batch.segments()[at]) {
                    targets[at] = batch.labels()[at + 1];
                }
            }
        }
        return targets;
    }

    private static Tensor onDevice(Model model, long[] values, long... shape) {
        return Tensors.fromLongs(values, shape).to(model.device.torchDevice(), torch.ScalarType.Long);
    }

    private static long[] pick(long[] values, long[] at) {
        long[] out = new long[at.length];
        for (int i = 0; i < at.length; i++) {
            out[i] = values[(int) at[i]];
        }
        return out;
    }
}
