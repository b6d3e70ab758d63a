package dev.tailor.data;

import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import dev.tailor.model.ModelPreset;
import dev.tailor.model.RandomModelWriter;
import dev.tailor.tensor.DType;
import java.nio.file.Path;

/**
 * A complete model directory with random weights: a byte-level BPE tokenizer with the ChatML
 * template (learnt from a bundled text, no download) and weights of the preset's exact shapes.
 * What {@code tailor init-model}, the demo, the benchmarks and the tests start from.
 */
public final class GeneratedModel {
    /** Vocabulary of the generated tokenizer (the preset's embedding may have more rows). */
    public static final int VOCAB_SIZE = 1024;

    private GeneratedModel() {}

    public static void write(Path dir, ModelPreset preset, long seed, DType dtype) {
        int size = Math.min(preset.vocabSize, VOCAB_SIZE);
        var ids = ByteLevelBpeTokenizerWriter.write(dir, size, 32768, ChatTemplate.CHATML_SOURCE);
        RandomModelWriter.write(dir, preset, seed, dtype, ids.bosTokenId(), ids.eosTokenId(), ids.padTokenId());
    }
}
