package dev.tailor.model;

import dev.tailor.tensor.LogitRows;
import dev.tailor.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A token's log-probability under the model's raw distribution (log_softmax of the logits, before
 * temperature or any other sampling rule, as OpenAI and vLLM report it), with the most likely
 * tokens at that position and their log-probabilities, most likely first.
 */
public record TokenLogprob(int token, double logprob, int[] topTokens, double[] topLogprobs) {
    /** The most alternatives OpenAI's API returns (top_logprobs 0..20). */
    public static final int MAX_TOP = 20;

    /** This entry with at most {@code n} alternatives. */
    public TokenLogprob limit(int n) {
        return n >= topTokens.length ? this
                : new TokenLogprob(token, logprob, Arrays.copyOf(topTokens, n), Arrays.copyOf(topLogprobs, n));
    }

    /**
     * For each row i of fp32 logits [n, vocab]: the log-probability of {@code tokens[i]} and the
     * {@code top} most likely tokens (ties in any order).
     */
    public static List<TokenLogprob> pick(Tensor logits, int[] tokens, int top) {
        int n = tokens.length;
        if (logits.dim() != 2 || logits.size(0) != n) {
            throw new IllegalArgumentException("logits " + Arrays.toString(Tensors.shape(logits)) + " for " + n + " tokens");
        }
        int k = (int) Math.min(top, logits.size(1));
        double[] logNormalizers = LogitRows.logNormalizers(logits); // log p = logit - log(sum exp(logits))
        Tensor index = Tensors.fromLongs(Arrays.stream(tokens).asLongStream().toArray(), n, 1).to(logits.device(), torch.ScalarType.Long);
        float[] picked = Tensors.toFloats(logits.gather(1, index));
        float[] topValues = new float[0];
        long[] topIds = new long[0];
        if (k > 0) {
            var best = logits.topk(k, -1, true, true);
            topValues = Tensors.toFloats(best.get0());
            topIds = Tensors.toLongs(best.get1());
        }
        List<TokenLogprob> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int[] ids = new int[k];
            double[] values = new double[k];
            for (int j = 0; j < k; j++) {
                ids[j] = (int) topIds[i * k + j];
                values[j] = topValues[i * k + j] - logNormalizers[i];
            }
            out.add(new TokenLogprob(tokens[i], picked[i] - logNormalizers[i], ids, values));
        }
        return out;
    }
}
