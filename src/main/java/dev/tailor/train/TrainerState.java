package dev.tailor.train;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Where a run stands after an optimizer step: enough to continue it exactly (trainer_state.json
 * in every checkpoint). The data position is the step itself: batches are a pure function of
 * (seed, epoch), and dropout is reseeded from (seed, step) before every step.
 */
record TrainerState(
        @JsonProperty("global_step") int step,
        @JsonProperty("epoch") double epoch,
        @JsonProperty("best_valid_loss") Double bestValidLoss,
        @JsonProperty("best_step") Integer bestStep,
        @JsonProperty("evals_without_improvement") int evalsWithoutImprovement,
        @JsonProperty("base_model_fingerprint") String baseModelFingerprint,
        @JsonProperty("data_fingerprint") String dataFingerprint,
        @JsonProperty("rng") String rng) {

    static final String RNG_SCHEME = "shuffle: Batcher.epoch(seed, epoch); dropout: torch.manual_seed(seed * 1000003 + step)";

    /** Before the first step of a run on this base model and data. */
    static TrainerState start(String baseModelFingerprint, String dataFingerprint) {
        return new TrainerState(0, 0, null, null, 0, baseModelFingerprint, dataFingerprint, RNG_SCHEME);
    }

    /** After optimizer step {@code step}, {@code epoch} epochs into the data. */
    TrainerState afterStep(int step, double epoch) {
        return new TrainerState(step, epoch, bestValidLoss, bestStep, evalsWithoutImprovement, baseModelFingerprint,
                dataFingerprint, rng);
    }

    /** After a validation at {@code atStep} gave {@code loss}: a new best, or one more evaluation without improvement. */
    TrainerState afterValidation(int atStep, double loss) {
        boolean improved = bestValidLoss == null || loss < bestValidLoss;
        return new TrainerState(step, epoch, improved ? loss : bestValidLoss, improved ? atStep : bestStep,
                improved ? 0 : evalsWithoutImprovement + 1, baseModelFingerprint, dataFingerprint, rng);
    }
}
