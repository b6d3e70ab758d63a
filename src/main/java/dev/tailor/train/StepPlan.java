package dev.tailor.train;

import dev.tailor.data.Batch;
import dev.tailor.data.Batcher;
import dev.tailor.data.TokenizedExample;
import java.util.ArrayList;
import java.util.List;

/**
 * Every optimizer step of a run decided up front: which micro-batches it accumulates and where it
 * falls in its epoch. Batches depend only on (examples, seed, epoch), so the plan of a resumed run
 * is the plan of the original one and step N's data is found without replaying anything.
 */
final class StepPlan {
    /** @param epoch 0-based; @param endsEpoch the epoch's last step; @param progress epochs done after it (fractional) */
    record Step(int epoch, List<Batch> batches, boolean endsEpoch, double progress) {
        long trainedTokens() {
            return batches.stream().mapToLong(Batch::trainedTokens).sum();
        }
    }

    private StepPlan() {}

    /** Steps of {@code epochs} passes, or exactly {@code maxSteps} (cycling epochs as transformers does) when it is positive. */
    static List<Step> of(List<TokenizedExample> examples, TrainingConfig c, int padId) {
        List<Step> steps = new ArrayList<>();
        for (int epoch = 0; c.maxSteps > 0 ? steps.size() < c.maxSteps : epoch < c.epochs; epoch++) {
            List<Batch> batches = Batcher.epoch(examples, epoch, c.seed, c.batchSize, c.maxSeqLen, c.packing, c.padding.equals("max_length"), padId);
            if (batches.isEmpty()) {
                throw new IllegalArgumentException("no training batches: the caller must reject an empty training set");
            }
            int groups = (batches.size() + c.gradAccum - 1) / c.gradAccum;
            for (int g = 0; g < groups && (c.maxSteps <= 0 || steps.size() < c.maxSteps); g++) {
                List<Batch> group = batches.subList(g * c.gradAccum, Math.min(batches.size(), (g + 1) * c.gradAccum));
                steps.add(new Step(epoch, List.copyOf(group), g == groups - 1, epoch + (g + 1.0) / groups));
            }
        }
        return steps;
    }
}
