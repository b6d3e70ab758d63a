package dev.tailor.serve;

import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * One served request as the {@link RequestLog} stores it.
 *
 * @param id          the response id the client received (e.g. chatcmpl-...), the key for feedback
 * @param timestamp   when the request arrived; kept to the millisecond, as stored
 * @param tenant      the API key's tenant; null without keys
 * @param model       the {@code model} the client asked for (an adapter, base, or an experiment)
 * @param target      what generated the response: "base" or an adapter name
 * @param experiment  null unless {@code model} named an experiment; then {@code variant} is set too
 * @param user        the request's {@code user} field; null when absent
 * @param prompt      the request's messages (or prompt) as JSON text
 * @param response    the generated text ("" when nothing was generated)
 * @param ttftMs      time to first token; null when no token was produced
 */
public record LoggedRequest(String id, Instant timestamp, String tenant, String model, String target,
                            String experiment, String variant, String user, String prompt, String response,
                            double latencyMs, Double ttftMs, int promptTokens, int completionTokens, Status status) {

    /** How the request ended. */
    public enum Status {
        OK, ERROR, CANCELLED;

        /** The stored form: ok, error, cancelled. */
        public String dbValue() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        static Status ofDbValue(String value) {
            return valueOf(value.toUpperCase(java.util.Locale.ROOT));
        }
    }

    public LoggedRequest {
        if (id == null || id.isBlank() || model == null || target == null || prompt == null || response == null
                || timestamp == null || status == null) {
            throw new IllegalArgumentException("a logged request needs id, timestamp, model, target, prompt, response and status");
        }
        if ((experiment == null) != (variant == null)) {
            throw new IllegalArgumentException("experiment and variant are both set or both null, got " + experiment + " / " + variant);
        }
        if (!finiteNonNegative(latencyMs) || (ttftMs != null && !finiteNonNegative(ttftMs)) || promptTokens < 0 || completionTokens < 0) {
            throw new IllegalArgumentException("latencies and token counts are >= 0");
        }
        timestamp = timestamp.truncatedTo(ChronoUnit.MILLIS);
    }

    private static boolean finiteNonNegative(double ms) {
        return Double.isFinite(ms) && ms >= 0;
    }
}
