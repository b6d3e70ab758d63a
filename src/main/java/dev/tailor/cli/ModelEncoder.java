package dev.tailor.cli;

import dev.tailor.data.ChatEncoder;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Tokenizer;
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

    @Override
    public void close() {
        tokenizer.close();
    }
}
