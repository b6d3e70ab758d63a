package dev.tailor.model;

import java.nio.file.Path;
import java.util.Map;

/**
 * What a training run updates, and how the result is handed to the ecosystem: a LoRA
 * {@link Adapter} (saved in PEFT format) or the whole model ({@link FullWeights}, saved as a
 * Hugging Face model directory).
 */
public interface TrainableWeights extends AutoCloseable {
    /** fp32 leaf tensors that require grad, by stable names (optimizer state and checkpoints use them). */
    Map<String, org.bytedeco.pytorch.Tensor> parameters();

    long parameterCount();

    /** Writes the weights as other tools load them, each file atomically. */
    void save(Path dir);

    /** Frees what this object owns (an adapter's tensors; a full model's weights belong to the model). */
    @Override
    void close();
}
