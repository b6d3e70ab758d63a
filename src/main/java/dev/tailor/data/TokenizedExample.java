package dev.tailor.data;

import java.util.Arrays;

/**
 * ids and labels of one example; labels[i] = ids[i] where trained, -100 ({@link ChatEncoder#IGNORE})
 * elsewhere (same convention as HF: label i is the token at position i; the shift happens in the
 * loss). labels[0] is always -100: no position predicts the first token, and in a packed row a
 * trained first label would make the previous example's last token predict this example's start.
 * The arrays are shared, not copied: treat them as read-only.
 */
public record TokenizedExample(int line, int[] ids, int[] labels, boolean truncated) {
    public TokenizedExample {
        if (ids.length != labels.length) {
            throw new IllegalArgumentException("ids and labels differ in length: " + ids.length + " vs " + labels.length);
        }
    }

    /** The number of tokens the loss is computed on: labels that are not -100. */
    public int trainedTokens() {
        int trained = 0;
        for (int label : labels) {
            if (label != ChatEncoder.IGNORE) {
                trained++;
            }
        }
        return trained;
    }

    public int length() {
        return ids.length;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TokenizedExample that && line == that.line && truncated == that.truncated
                && Arrays.equals(ids, that.ids) && Arrays.equals(labels, that.labels);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Integer.hashCode(line) + Arrays.hashCode(ids)) + Arrays.hashCode(labels);
    }

    @Override
    public String toString() {
        return "TokenizedExample[line=" + line + ", tokens=" + ids.length + ", trained=" + trainedTokens()
                + ", truncated=" + truncated + "]";
    }
}
