package dev.tailor.model;

import dev.tailor.tensor.LogitRows;
import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Turns one row of next-token logits into a token. The logit processing runs in libtorch (a sort
 * over a 150k vocabulary is too slow in Java per token); the final draw uses a seeded Java RNG so
 * that a seed reproduces the same text on every machine.
 */
final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;

    Sampler(SamplingParams params) {
        this.params = params;
        this.random = params.seed() == null ? new SplittableRandom() : new SplittableRandom(params.seed());
    }

    /** @param logits fp32 [V] of one sequence; {@code seen} = prompt and generated ids (for the repetition penalty). */
    int next(Tensor logits, int[] seen) {
        boolean penalize = params.repetitionPenalty() != 1.0 && seen.length > 0;
        // only the penalty edits in place (the steps below make new tensors): copy the caller's logits for it
        // alone, as a copy of 152k logits per row and token was a visible part of a decoding step
        Tensor row = penalize ? logits.clone() : logits;
        if (penalize) {
            applyRepetitionPenalty(row, seen);
        }
        // below float's smallest normal value the temperature is greedy for every practical purpose
        if (params.temperature() < Float.MIN_NORMAL) {
            return LogitRows.argmax(row)[0];
        }
        // shift the top logit to 0 first: with a tiny temperature the others then go to -inf, instead
        // of every logit overflowing to +inf and the softmax turning NaN (which drew token 0)
        row = row.sub(row.max()).div(Tensors.scalar(params.temperature()));
        double negInf = Double.NEGATIVE_INFINITY;
        if (params.topK() > 0 && params.topK() < row.size(0)) {
            Tensor kth = torch.topk(row, params.topK()).get0().narrow(0, params.topK() - 1, 1);
            row.masked_fill_(row.lt(kth), Tensors.scalar(negInf));
        }
        if (params.topP() < 1.0) {
            var sorted = torch.sort(row, 0, true);
            Tensor probs = sorted.get0().softmax(0);
            Tensor massBefore = probs.cumsum(0).sub(probs);
            Tensor removeSorted = massBefore.ge(Tensors.scalar(params.topP()));
            Tensor remove = torch.zeros_like(removeSorted).scatter_(0, sorted.get1(), removeSorted);
            row.masked_fill_(remove, Tensors.scalar(negInf));
        }
        if (params.minP() > 0) {
            Tensor probs = row.softmax(0);
            Tensor threshold = probs.max().mul(Tensors.scalar(params.minP()));
            row.masked_fill_(probs.lt(threshold), Tensors.scalar(negInf));
        }
        return draw(Tensors.toFloats(row.softmax(0)));
    }

    /** transformers' RepetitionPenaltyLogitsProcessor: divide positive logits, multiply negative ones. */
    private void applyRepetitionPenalty(Tensor row, int[] seen) {
        long[] ids = Arrays.stream(seen).distinct().asLongStream().toArray();
        Tensor index = Tensors.fromLongs(ids, ids.length).to(row.device(), torch.ScalarType.Long);
        Tensor values = row.gather(0, index);
        Tensor penalized = torch.where(values.lt(Tensors.scalar(0)),
                values.mul(Tensors.scalar(params.repetitionPenalty())),
                values.div(Tensors.scalar(params.repetitionPenalty())));
        row.scatter_(0, index, penalized);
    }

    /** Inverse-CDF draw; rounding slack falls to the last token with non-zero probability. */
    private int draw(float[] probs) {
        double u = random.nextDouble();
        double cumulative = 0;
        int last = 0;
        for (int i = 0; i < probs.length; i++) {
            if (probs[i] > 0) {
                cumulative += probs[i];
                last = i;
                if (u < cumulative) {
                    return i;
                }
            }
        }
        return last;
    }
}
