package dev.tailor.serve;

import dev.tailor.model.TokenLogprob;

/**
 * One generated token as it is produced.
 *
 * @param index its position in the completion (0 = the first generated token)
 * @param text the text it releases: possibly empty (half a UTF-8 character, a possible stop-string
 *     prefix held back, a stop token), possibly also text held back by earlier tokens; the deltas of
 *     a request concatenate to its text
 * @param logprob its id, its log-probability under the raw model distribution and the requested
 *     number of most likely alternatives
 */
public record GeneratedToken(int index, String text, TokenLogprob logprob) {
    public int tokenId() {
        return logprob.token();
    }
}
