package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;

/**
 * A client's judgement of one response, as {@code POST /v1/experiments/{name}/feedback} receives
 * it: {@code {"response_id": "chatcmpl-...", "score": 4}} with any finite number, or
 * {@code {"response_id": "...", "thumbs": "up"}} ("up" is stored as 1, "down" as 0).
 */
public record Feedback(String responseId, double score) {

    public Feedback {
        if (responseId == null || responseId.isBlank()) {
            throw new TailorException("feedback: response_id is missing; give the id of the response being rated");
        }
        if (!Double.isFinite(score)) {
            throw new TailorException("feedback: score must be a finite number, got " + score);
        }
    }

    /** The feedback in a request body; one-line errors name the field. */
    public static Feedback fromJson(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw new TailorException("feedback: the body must be a JSON object with response_id and score or thumbs");
        }
        JsonNode id = body.get("response_id");
        if (id == null || !id.isTextual()) {
            throw new TailorException("feedback: response_id is missing; give the id of the response being rated");
        }
        JsonNode score = body.get("score");
        JsonNode thumbs = body.get("thumbs");
        if ((score == null) == (thumbs == null)) {
            throw new TailorException("feedback: give exactly one of score (a number) and thumbs (\"up\" or \"down\")");
        }
        if (score != null) {
            if (!score.isNumber()) {
                throw new TailorException("feedback: score must be a number, got " + score);
            }
            return new Feedback(id.asText(), score.doubleValue());
        }
        return switch (thumbs.asText()) {
            case "up" -> new Feedback(id.asText(), 1);
            case "down" -> new Feedback(id.asText(), 0);
            default -> throw new TailorException("feedback: thumbs must be \"up\" or \"down\", got " + thumbs);
        };
    }
}
