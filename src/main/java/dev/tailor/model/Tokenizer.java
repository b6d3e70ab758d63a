package dev.tailor.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A Hugging Face tokenizer: {@code tokenizer.json} run by the Rust tokenizers library through DJL,
 * plus the special tokens named in {@code tokenizer_config.json}. It never truncates, pads or adds
 * special tokens on its own: callers build exact sequences (chat templates, BOS) deliberately.
 * Holds native memory, so close it.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        // Otherwise DJL probes the EC2 metadata endpoint and sends telemetry when a tokenizer loads.
        if (System.getenv("OPT_OUT_TRACKING") == null && System.getProperty("OPT_OUT_TRACKING") == null) {
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
    }

    private static final char REPLACEMENT_CHARACTER = '\uFFFD';

    private final HuggingFaceTokenizer rust;
    private final TokenizerVocabulary vocabulary;
    private final Optional<String> bosToken;
    private final Optional<String> eosToken;
    private final Optional<String> padToken;
    private final Optional<String> unkToken;
    private final boolean addBosToken;
    private final Set<Integer> specialIds;

    private Tokenizer(HuggingFaceTokenizer rust, TokenizerVocabulary vocabulary, JsonNode config) {
        this.rust = rust;
        this.vocabulary = vocabulary;
        this.bosToken = tokenText(config, "bos_token");
        this.eosToken = tokenText(config, "eos_token");
        this.padToken = tokenText(config, "pad_token");
        this.unkToken = tokenText(config, "unk_token");
        JsonNode addBos = config.path("add_bos_token");
        this.addBosToken = addBos.isBoolean()
                ? addBos.asBoolean()
                : bosToken.filter(vocabulary::postProcessorPrepends).isPresent();
        Set<Integer> special = new TreeSet<>(vocabulary.specialIds());
        Stream.of(bosToken, eosToken, padToken, unkToken)
                .flatMap(Optional::stream)
                .forEach(token -> vocabulary.id(token).ifPresent(special::add));
        this.specialIds = Set.copyOf(special);
    }

    /** Loads {@code dir/tokenizer.json} and, when present, {@code dir/tokenizer_config.json}. */
    public static Tokenizer fromModelDir(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new TailorException(dir + ": no tokenizer.json; copy the model's tokenizer files there or pass --tokenizer DIR");
        }
        TokenizerVocabulary vocabulary = TokenizerVocabulary.read(file);
        Path configFile = dir.resolve("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(configFile) ? Json.readTree(configFile) : MissingNode.getInstance();
        return new Tokenizer(loadRust(file), vocabulary, config);
    }

    private static HuggingFaceTokenizer loadRust(Path file) {
        try {
            // DJL's defaults would truncate to 512 tokens, pad, and add the post-processor's specials.
            return HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .optDoLowerCase(false)
                    .build();
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new TailorException(file + ": not a tokenizer the Hugging Face tokenizers library accepts: "
                    + e.getMessage(), e);
        }
    }

    /** A special token's text: a plain string or an AddedToken object {@code {"content": ...}}. */
    private static Optional<String> tokenText(JsonNode config, String field) {
        JsonNode value = config.path(field);
        if (value.isObject()) {
            value = value.path("content");
        }
        return value.isTextual() ? Optional.of(value.asText()) : Optional.empty();
    }

    /**
     * The ids of {@code text} without any added special tokens; special-token text inside it (such
     * as {@code <|im_start|>}) becomes its single id, as in Hugging Face.
     */
    public int[] encode(String text) {
        return Arrays.stream(rust.encode(text, false, false).getIds()).mapToInt(Math::toIntExact).toArray();
    }

    /** The text of {@code ids}; ids past the vocabulary have none (see {@link #decodableIds}). */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return rust.decode(decodableIds(ids), skipSpecialTokens);
    }

    public OptionalInt tokenId(String token) {
        return vocabulary.id(token);
    }

    /** The vocabulary entry of {@code id}, as HF's convert_ids_to_tokens gives it (e.g. "Ġworld"). */
    public String token(int id) {
        checkId(id);
        String token = vocabulary.token(id);
        if (token == null) {
            throw new TailorException("token id " + id + " is not defined in this vocabulary (the tokenizer.json skips it)");
        }
        return token;
    }

    /** Max id + 1, added tokens included; a model's embedding may have more rows than this. */
    public int vocabSize() {
        return vocabulary.size();
    }

    /** The added tokens marked special plus the BOS/EOS/PAD/UNK tokens of tokenizer_config.json. */
    public Set<Integer> specialIds() {
        return specialIds;
    }

    public Optional<String> bosToken() {
        return bosToken;
    }

    public Optional<String> eosToken() {
        return eosToken;
    }

    public Optional<String> padToken() {
        return padToken;
    }

    public Optional<String> unkToken() {
        return unkToken;
    }

    public OptionalInt bosTokenId() {
        return idOf(bosToken);
    }

    public OptionalInt eosTokenId() {
        return idOf(eosToken);
    }

    public OptionalInt padTokenId() {
        return idOf(padToken);
    }

    public OptionalInt unkTokenId() {
        return idOf(unkToken);
    }

    /**
     * Whether Hugging Face would prepend BOS to plain text: {@code add_bos_token} of
     * tokenizer_config.json, else whether tokenizer.json's post-processor does (Llama 3). Since
     * {@link #encode} never adds it, callers that want HF's sequence prepend {@link #bosTokenId}.
     */
    public boolean addBosToken() {
        return addBosToken && bosTokenId().isPresent();
    }

    /** A decoder for ids arriving one at a time, as a model generates them. */
    public StreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(skipSpecialTokens);
    }

    @Override
    public void close() {
        rust.close();
    }

    private OptionalInt idOf(Optional<String> token) {
        return token.isPresent() ? vocabulary.id(token.get()) : OptionalInt.empty();
    }

    /**
     * The ids that have text: an id past the tokenizer's vocabulary (a model's padded embedding rows:
     * Qwen2.5 has 151,936 rows for 151,665 tokens, and a model may generate one) is skipped, as Hugging
     * Face's decode skips ids it has no token for; a negative id is an error. Filtered here because
     * native code must never see an id outside the vocabulary.
     */
    private long[] decodableIds(int[] ids) {
        long[] known = new long[ids.length];
        int n = 0;
        for (int id : ids) {
            if (id < 0) {
                checkId(id);
            }
            if (id < vocabSize()) {
                known[n++] = id;
            }
        }
        return java.util.Arrays.copyOf(known, n);
    }

    /** Ids reach native code, which must never see one outside the vocabulary. */
    private void checkId(int id) {
        if (id < 0 || id >= vocabSize()) {
            throw new TailorException("token id " + id + " is out of range for this vocabulary (0.." + (vocabSize() - 1) + ")");
        }
    }

    /**
     * Turns ids into text as they arrive, holding back text that ends in an incomplete character (a
     * byte-level token may end mid-UTF-8 sequence; decoding then ends in U+FFFD). As vLLM's
     * detokenizer, it decodes the new ids together with the previously emitted chunk, so decoders
     * that depend on context (SentencePiece's leading-space rule) see the same text as a full decode.
     * The emitted pieces plus {@link #finish} concatenate to {@code decode(allIds)}.
     */
    public final class StreamDecoder {
        private final boolean skipSpecialTokens;
        /** The ids of the last emitted chunk (context) followed by the ids not yet emitted. */
        private final List<Integer> window = new ArrayList<>();
        private int emittedEnd;

        private StreamDecoder(boolean skipSpecialTokens) {
            this.skipSpecialTokens = skipSpecialTokens;
        }

        /** Adds one id and returns the text it completes, possibly empty. */
        public String accept(int id) {
            if (id >= vocabSize()) {
                return ""; // no text, as in decode
            }
            checkId(id);
            window.add(id);
            String context = decodeWindow(emittedEnd);
            String text = decodeWindow(window.size());
            if (text.length() <= context.length() || text.charAt(text.length() - 1) == REPLACEMENT_CHARACTER) {
                return "";
            }
            window.subList(0, emittedEnd).clear();
            emittedEnd = window.size();
            return text.substring(context.length());
        }

        /** Returns the held-back rest (incomplete characters become U+FFFD, as in a full decode). */
        public String finish() {
            String context = decodeWindow(emittedEnd);
            String text = decodeWindow(window.size());
            window.clear();
            emittedEnd = 0;
            return text.length() > context.length() ? text.substring(context.length()) : "";
        }

        private String decodeWindow(int end) {
            long[] ids = new long[end];
            for (int i = 0; i < end; i++) {
                ids[i] = window.get(i);
            }
            return rust.decode(ids, skipSpecialTokens);
        }
    }
}
