package dev.tailor.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectWriter;
import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a small, complete Hugging Face byte-level BPE tokenizer (Qwen2 layout: tokenizer.json and
 * tokenizer_config.json) for the random-weight models of {@code tailor init-model}, learnt from a
 * bundled English text so no download is needed. Same arguments, same bytes.
 */
public final class ByteLevelBpeTokenizerWriter {
    public static final String END_OF_TEXT = "<|endoftext|>";
    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";
    private static final List<String> SPECIAL_TOKENS = List.of(END_OF_TEXT, IM_START, IM_END);
    /** The 256 byte tokens plus the special tokens. */
    public static final int MIN_VOCAB_SIZE = 256 + SPECIAL_TOKENS.size();
    private static final String TRAINING_TEXT = "byte-level-bpe-training-text.txt";
    /** HF's layout (2-space indent, "key": value) with a fixed line feed so the bytes do not depend on the OS. */
    private static final ObjectWriter TOKENIZER_JSON = Json.MAPPER.writer(new DefaultPrettyPrinter()
            .withObjectIndenter(new DefaultIndenter("  ", "\n"))
            .withArrayIndenter(new DefaultIndenter("  ", "\n"))
            .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER)));

    private ByteLevelBpeTokenizerWriter() {}

    /**
     * The ids of the special tokens, placed right after the BPE vocabulary. The tokenizer adds no
     * BOS; as in Qwen's config.json, {@code bos_token_id} is {@code <|endoftext|>}.
     */
    public record SpecialTokenIds(int endOfText, int imStart, int imEnd) {
        public int bosTokenId() {
            return endOfText;
        }

        public int eosTokenId() {
            return imEnd;
        }

        public int padTokenId() {
            return endOfText;
        }
    }

    /**
     * Writes {@code dir/tokenizer.json} and {@code dir/tokenizer_config.json} for a vocabulary of
     * exactly {@code vocabSize} ids, the special tokens included.
     *
     * @param modelMaxLength the context length, written as {@code model_max_length}
     * @param chatTemplate written as {@code chat_template} when not null
     */
    public static SpecialTokenIds write(Path dir, int vocabSize, int modelMaxLength, String chatTemplate) {
        if (vocabSize < MIN_VOCAB_SIZE) {
            throw new TailorException("tokenizer vocabulary size " + vocabSize + " is too small for a byte-level BPE; use at least "
                    + MIN_VOCAB_SIZE + " (256 bytes + " + SPECIAL_TOKENS.size() + " special tokens)");
        }
        int bpeSize = vocabSize - SPECIAL_TOKENS.size();
        ByteLevelBpeTrainer.Vocabulary bpe = ByteLevelBpeTrainer.train(trainingText(), bpeSize);
        if (bpe.tokens().size() < bpeSize) {
            throw new TailorException("tokenizer vocabulary size " + vocabSize + " is more than the bundled training text yields (at most "
                    + (bpe.tokens().size() + SPECIAL_TOKENS.size()) + "); choose a smaller size");
        }
        AtomicFiles.writeString(dir.resolve("tokenizer.json"), tokenizerJson(bpe, bpeSize));
        AtomicFiles.writeString(dir.resolve("tokenizer_config.json"),
                Json.pretty(tokenizerConfig(bpeSize, modelMaxLength, chatTemplate)));
        return new SpecialTokenIds(bpeSize, bpeSize + 1, bpeSize + 2);
    }

    /** The bundled English text the tokenizer is learnt from (also the demo's pretraining text). */
    public static String trainingText() {
        try (InputStream in = ByteLevelBpeTokenizerWriter.class.getResourceAsStream(TRAINING_TEXT)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + TRAINING_TEXT);
            }
            // A checkout with CRLF line ends must not change the learnt merges.
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("\r", "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String tokenizerJson(ByteLevelBpeTrainer.Vocabulary bpe, int firstSpecialId) {
        List<Map<String, Object>> addedTokens = new ArrayList<>();
        for (int i = 0; i < SPECIAL_TOKENS.size(); i++) {
            Map<String, Object> token = ordered("id", firstSpecialId + i, "content", SPECIAL_TOKENS.get(i));
            token.putAll(specialTokenFlags());
            addedTokens.add(token);
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < bpe.tokens().size(); id++) {
            vocab.put(bpe.tokens().get(id), id);
        }
        Map<String, Object> split = ordered(
                "type", "Split",
                "pattern", ordered("Regex", ByteLevelBpeTrainer.SPLIT_REGEX),
                "behavior", "Isolated",
                "invert", false);
        Map<String, Object> model = ordered(
                "type", "BPE",
                "dropout", null,
                "unk_token", null,
                "continuing_subword_prefix", "",
                "end_of_word_suffix", "",
                "fuse_unk", false,
                "byte_fallback", false,
                "ignore_merges", false,
                "vocab", vocab,
                "merges", bpe.merges());
        Map<String, Object> json = ordered(
                "version", "1.0",
                "truncation", null,
                "padding", null,
                "added_tokens", addedTokens,
                "normalizer", null,
                "pre_tokenizer", ordered("type", "Sequence", "pretokenizers", List.of(split, byteLevel())),
                "post_processor", byteLevel(),
                "decoder", byteLevel(),
                "model", model);
        try {
            return TOKENIZER_JSON.writeValueAsString(json) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> tokenizerConfig(int firstSpecialId, int modelMaxLength, String chatTemplate) {
        Map<String, Object> addedTokensDecoder = new TreeMap<>();
        for (int i = 0; i < SPECIAL_TOKENS.size(); i++) {
            Map<String, Object> token = ordered("content", SPECIAL_TOKENS.get(i));
            token.putAll(specialTokenFlags());
            addedTokensDecoder.put(String.valueOf(firstSpecialId + i), token);
        }
        Map<String, Object> config = ordered(
                "add_bos_token", false,
                "add_prefix_space", false,
                "added_tokens_decoder", addedTokensDecoder,
                "additional_special_tokens", List.of(IM_START, IM_END),
                "bos_token", null,
                "clean_up_tokenization_spaces", false,
                "eos_token", IM_END,
                "model_max_length", modelMaxLength,
                "pad_token", END_OF_TEXT,
                "split_special_tokens", false,
                "tokenizer_class", "PreTrainedTokenizerFast",
                "unk_token", null);
        if (chatTemplate != null) {
            config.put("chat_template", chatTemplate);
        }
        return config;
    }

    /** Special tokens match verbatim, never inside the normalizer or across word boundaries. */
    private static Map<String, Object> specialTokenFlags() {
        return ordered("single_word", false, "lstrip", false, "rstrip", false, "normalized", false, "special", true);
    }

    private static Map<String, Object> byteLevel() {
        return ordered("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", false, "use_regex", false);
    }

    private static Map<String, Object> ordered(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }
}
