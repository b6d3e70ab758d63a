package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad tokenizer files are user errors whose one-line message names the file. */
class TokenizerErrorsTest {
    @TempDir
    Path dir;

    @Test
    void missingTokenizerJsonNamesTheDirectoryAndTheFix() {
        TailorException e = assertThrows(TailorException.class, () -> Tokenizer.fromModelDir(dir));
        assertEquals(dir + ": no tokenizer.json; copy the model's tokenizer files there or pass --tokenizer DIR",
                e.getMessage());
    }

    @Test
    void invalidJsonNamesTheFileAndLine() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"a\": 0}}\n");
        TailorException e = assertThrows(TailorException.class, () -> Tokenizer.fromModelDir(dir));
        assertEquals(dir.resolve("tokenizer.json") + ": invalid JSON at line 2",
                e.getMessage().substring(0, e.getMessage().indexOf(", column")));
    }

    @Test
    void fileWithoutVocabularyIsNotATokenizer() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"version\": \"1.0\"}");
        TailorException e = assertThrows(TailorException.class, () -> Tokenizer.fromModelDir(dir));
        assertEquals(dir.resolve("tokenizer.json") + ": no model.vocab; not a Hugging Face tokenizer.json", e.getMessage());
    }

    @Test
    void tokenizerTheRustLibraryRejectsNamesTheFileAndItsReason() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"),
                "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"x\"]]}}");
        TailorException e = assertThrows(TailorException.class, () -> Tokenizer.fromModelDir(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json")
                + ": not a tokenizer the Hugging Face tokenizers library accepts: Token `x` out of vocabulary"), e.getMessage());
    }
}
