package dev.tailor.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;

/**
 * The id/token tables of a Hugging Face {@code tokenizer.json}, read in Java because DJL exposes
 * neither direction. The file is streamed so the merges (half of a large file) are never held.
 */
final class TokenizerVocabulary {
    private final String[] tokens;
    private final Map<String, Integer> ids;
    private final Set<Integer> specialIds;
    private final JsonNode postProcessor;

    private TokenizerVocabulary(String[] tokens, Map<String, Integer> ids, Set<Integer> specialIds,
            JsonNode postProcessor) {
        this.tokens = tokens;
        this.ids = ids;
        this.specialIds = specialIds;
        this.postProcessor = postProcessor;
    }

    static TokenizerVocabulary read(Path file) {
        Map<String, Integer> ids = new HashMap<>();
        Set<Integer> specialIds = new TreeSet<>();
        JsonNode postProcessor = MissingNode.getInstance();
        boolean sawVocab = false;
        try (JsonParser p = Json.MAPPER.createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new TailorException(file + ": not a Hugging Face tokenizer.json (expected a JSON object)");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "model" -> sawVocab = readModelVocab(p, ids);
                    case "added_tokens" -> readAddedTokens(tree(p), ids, specialIds);
                    case "post_processor" -> postProcessor = tree(p);
                    default -> p.skipChildren();
                }
            }
        } catch (JsonProcessingException e) {
            throw new TailorException(file + ": invalid JSON at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr() + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (!sawVocab) {
            throw new TailorException(file + ": no model.vocab; not a Hugging Face tokenizer.json");
        }
        return new TokenizerVocabulary(tokensById(ids), ids, Set.copyOf(specialIds), postProcessor);
    }

    private static JsonNode tree(JsonParser p) throws IOException {
        JsonNode node = p.readValueAsTree();
        return node == null ? MissingNode.getInstance() : node;
    }

    /** BPE, WordPiece and WordLevel store {token: id}; Unigram stores [[piece, score], ...] by id. */
    private static boolean readModelVocab(JsonParser p, Map<String, Integer> ids) throws IOException {
        boolean sawVocab = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            if (!field.equals("vocab")) {
                p.skipChildren();
            } else if (value == JsonToken.START_OBJECT) {
                sawVocab = true;
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String token = p.currentName();
                    p.nextToken();
                    ids.putIfAbsent(token, p.getIntValue());
                }
            } else if (value == JsonToken.START_ARRAY) {
                sawVocab = true;
                int id = 0;
                while (p.nextToken() == JsonToken.START_ARRAY) {
                    ids.putIfAbsent(tree(p).path(0).asText(), id++);
                }
            }
        }
        return sawVocab;
    }

    /** Added tokens win over model tokens of the same text, as in HF's token_to_id. */
    private static void readAddedTokens(JsonNode added, Map<String, Integer> ids, Set<Integer> specialIds) {
        for (JsonNode token : added) {
            int id = token.path("id").asInt();
            ids.put(token.path("content").asText(), id);
            if (token.path("special").asBoolean()) {
                specialIds.add(id);
            }
        }
    }

    private static String[] tokensById(Map<String, Integer> ids) {
        int size = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        String[] tokens = new String[size];
        ids.forEach((token, id) -> {
            if (id >= 0) {
                tokens[id] = token;
            }
        });
        return tokens;
    }

    /** Max id + 1, counting added tokens. */
    int size() {
        return tokens.length;
    }

    OptionalInt id(String token) {
        Integer id = ids.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token text of an in-range id, or null where the file defines no token with that id. */
    String token(int id) {
        return tokens[id];
    }

    Set<Integer> specialIds() {
        return specialIds;
    }

    /**
     * Whether the post-processor prepends {@code token} to a single sequence (Llama 3's
     * TemplateProcessing, possibly inside a Sequence): that is HF adding BOS by default.
     */
    boolean postProcessorPrepends(String token) {
        return templateStartsWith(postProcessor, token);
    }

    private static boolean templateStartsWith(JsonNode processor, String token) {
        return switch (processor.path("type").asText()) {
            case "TemplateProcessing" -> token.equals(processor.path("single").path(0).path("SpecialToken")
                    .path("id").asText(null));
            case "Sequence" -> {
                for (JsonNode inner : processor.path("processors")) {
                    if (templateStartsWith(inner, token)) {
                        yield true;
                    }
                }
                yield false;
            }
            default -> false;
        };
    }
}
