package dev.tailor.cli;

import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Tokenizer;
import dev.tailor.train.TrainingConfig;
import dev.tailor.TailorException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A model directory's tokenizer and chat template, encoding as training does; closing frees the tokenizer. */
record ModelEncoder(Tokenizer tokenizer, ChatEncoder encoder) implements AutoCloseable {
    /** @throws dev.tailor.TailorException when the directory has no readable tokenizer or chat template */
    static ModelEncoder open(Path modelDir) {
        Tokenizer tokenizer = Tokenizer.fromModelDir(modelDir);
        try {
            return new ModelEncoder(tokenizer, new ChatEncoder(ChatTemplate.fromModelDir(modelDir), tokenizer));
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
    }

    /** The length examples are checked against: --max-seq-len, else what training truncates to by default. */
    static int maxSeqLenOrTrainingDefault(Integer maxSeqLen) {
        return maxSeqLen != null ? maxSeqLen : new TrainingConfig().maxSeqLen;
    }

    /**
     * The usage checks of the data commands' optional {@code --model} and {@code --max-seq-len}: a
     * length needs a model to count tokens with, and the model must be a directory.
     */
    static void checkOptions(Path modelDir, Integer maxSeqLen) {
        if (maxSeqLen != null && modelDir == null) {
            throw new TailorException("--max-seq-len needs --model: token counts come from the model's tokenizer and chat template");
        }
        if (maxSeqLen != null && maxSeqLen < 2) {
            throw new TailorException("--max-seq-len must be at least 2");
        }
        if (modelDir != null && !Files.isDirectory(modelDir)) {
            throw new TailorException("--model " + modelDir + ": not a directory");
        }
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
