package dev.tailor.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tailor.Json;
import java.io.IOException;
import java.io.InputStream;

/** Request bodies: read up to the caller's size limit, then parsed as one JSON object. */
final class RequestBodies {
    /** Pretty-printed or compact alike; anything after the object is an error, not silently dropped. */
    private static final ObjectReader READER = Json.MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private RequestBodies() {}

    /**
     * The body as a JSON object. 413 when {@code declaredLength} (-1 when the client streams the
     * body without one) or the bytes actually sent exceed {@code limit}; 400 when it is not a JSON
     * object.
     */
    static ObjectNode readObject(InputStream in, long declaredLength, long limit) throws IOException {
        if (declaredLength > limit) {
            throw ApiError.tooLarge(declaredLength, limit);
        }
        byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
        if (bytes.length > limit) {
            throw ApiError.tooLarge(-1, limit);
        }
        return parseObject(bytes);
    }

    static ObjectNode parseObject(byte[] bytes) {
        JsonNode node;
        try {
            node = bytes.length == 0 ? null : READER.readTree(bytes);
        } catch (JsonProcessingException e) {
            String at = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")";
            throw ApiError.invalid("We could not parse the JSON body of your request: "
                    + e.getOriginalMessage().lines().findFirst().orElse("") + at + ". Send a JSON object.", null);
        } catch (IOException e) {
            throw ApiError.invalid("We could not read the body of your request: " + e.getMessage(), null);
        }
        if (node == null || node.isMissingNode()) {
            throw ApiError.invalid("The request body is empty; send a JSON object.", null);
        }
        if (!node.isObject()) {
            throw ApiError.invalid("The request body must be a JSON object, got " + RequestFields.describe(node) + ".", null);
        }
        return (ObjectNode) node;
    }
}
