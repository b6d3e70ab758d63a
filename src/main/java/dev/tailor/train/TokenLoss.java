package dev.tailor.train;

import dev.tailor.data.Batch;
import dev.tailor.model.AttentionMasks;
import dev.tailor.model.Model;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Next-token cross-entropy of one batch, summed over its trained tokens (callers divide by the
 * token count of the whole accumulated step: transformers #34191). Position i predicts label i+1
 * of the same example; logits are computed only at positions that carry a loss, since the
 * vocabulary projection of every position would dominate memory for large vocabularies.
 */
final class TokenLoss {
    private static final int IGNORE = -100;

    /** The summed loss (fp32 scalar, in the autograd graph when parameters require grad), tokens, argmax hits. */
    record Result(Tensor sum, long tokens, long correct) {}

    private TokenLoss() {}

    static Result of(Model model, Batch batch) {
        long[] targets = shiftedTargets(batch);
        long[] rows = IntStream.range(0, targets.length).filter(i -> targets[i] != IGNORE).asLongStream().toArray();
        if (rows.length == 0) {
            return new Result(Tensors.zeros(DType.F32, model.device), 0, 0);
        }
        var device = model.device.torchDevice();
        Tensor ids = Tensors.fromLongs(batch.ids(), batch.rows(), batch.length()).to(device, torch.ScalarType.Long);
        Tensor positions = Tensors.fromLongs(batch.positions(), batch.rows(), batch.length()).to(device, torch.ScalarType.Long);
        long[] segmentIds = Arrays.stream(batch.segments()).asLongStream().toArray();
        Tensor segments = Tensors.fromLongs(segmentIds, batch.rows(), batch.length()).to(device, torch.ScalarType.Long);
        int maxPosition = (int) Arrays.stream(batch.positions()).max().orElse(0);
        Tensor hidden = model.hiddenStates(ids, positions, AttentionMasks.packed(segments), null, maxPosition);
        Tensor selected = Tensors.fromLongs(rows, rows.length).to(device, torch.ScalarType.Long);
        Tensor wanted = Tensors.fromLongs(pick(targets, rows), rows.length).to(device, torch.ScalarType.Long);
        Tensor logits = model.logits(hidden.reshape(-1, hidden.size(2)).index_select(0, selected));
        Tensor sum = torch.cross_entropy_loss(logits, wanted, new TensorOptional(), 2 /* sum */, IGNORE, 0.0);
        long correct = logits.detach().argmax(new org.bytedeco.pytorch.LongOptional(-1), false).eq(wanted).sum().item_long();
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

    private static long[] pick(long[] values, long[] at) {
        long[] out = new long[at.length];
        for (int i = 0; i < at.length; i++) {
            out[i] = values[(int) at[i]];
        }
        return out;
    }
}
