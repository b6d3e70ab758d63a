package dev.tailor.serve;

/** Why a generation ended, named as the OpenAI API's finish_reason ("cancelled" is the engine's own). */
public enum FinishReason {
    /** A stop token or stop string. */
    STOP("stop"),
    /** max_tokens reached. */
    LENGTH("length"),
    /** Cancelled by the client (disconnect) or by a shutdown whose grace period ran out. */
    CANCELLED("cancelled");

    private final String apiName;

    FinishReason(String apiName) {
        this.apiName = apiName;
    }

    /** "stop", "length" or "cancelled". */
    public String apiName() {
        return apiName;
    }

    static FinishReason of(String apiName) {
        for (FinishReason r : values()) {
            if (r.apiName.equals(apiName)) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown finish reason " + apiName);
    }
}
