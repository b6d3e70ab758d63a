package dev.tailor.data;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;

/**
 * What training on a file costs: OpenAI's billing formula (billed tokens = the sum over examples of
 * min(max_len, length), times epochs, with its default epoch rule when no epoch count is given),
 * the price at per-1K-token rates, and, once a throughput was measured, the projected training
 * time on this machine. Immutable; {@link #toJson()} and {@link #summary()} are what commands and
 * reports print.
 *
 * @param examples examples in the file (a preference pair is one)
 * @param epochs passes over the data
 * @param epochsAuto whether epochs came from {@link #defaultEpochs} rather than the user
 * @param tokensPerEpoch the sum over sequences of min(maxSeqLen, length); a pair counts both sequences
 * @param billedTokens tokensPerEpoch x epochs
 * @param overMaxSeqLen examples with a sequence longer than maxSeqLen (truncated in training, billed as maxSeqLen)
 * @param skippedSequences sequences that keep no trained token after truncation: billed, but training skips them
 * @param skippedTokensPerEpoch their share of tokensPerEpoch
 * @param throughput measured training speed, or null when not measured
 * @param projectedSeconds the tokens training runs, (tokensPerEpoch - skippedTokensPerEpoch) x epochs, over
 *     throughput.tokensPerSecond; null without a throughput
 */
public record CostEstimate(int examples, int epochs, boolean epochsAuto, int maxSeqLen, long tokensPerEpoch, long billedTokens,
        int overMaxSeqLen, int skippedSequences, long skippedTokensPerEpoch, List<Price> prices, Throughput throughput,
        Double projectedSeconds) {

    /** The guide's range of per-1K-token training prices, shown as examples when the user gives no rate. */
    public static final List<Double> EXAMPLE_PRICES_PER_1K = List.of(0.008, 0.080);

    /** @param per1k dollars per 1,000 billed tokens; @param total dollars for the billed tokens */
    public record Price(double per1k, double total) {}

    /**
     * Training speed measured on this machine.
     *
     * @param examplesPerSecond training sequences per second (a preference pair is two)
     * @param tokensPerSecond non-padding tokens per second; padding the batches needed is in the time
     * @param stepsMeasured timed steps (after an untimed warm-up step)
     * @param device cpu or cuda
     * @param threads libtorch intra-op threads
     * @param training what was trained: method, rank, target modules, batch size
     */
    public record Throughput(double examplesPerSecond, double tokensPerSecond, int stepsMeasured, String device, int threads,
            String training) {}

    public CostEstimate {
        prices = List.copyOf(prices);
    }

    /**
     * OpenAI's default number of epochs for n examples: 3; min(25, 100 / n) when 3n < 100;
     * max(1, 25,000 / n) when 3n > 25,000 (integer division).
     */
    public static int defaultEpochs(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("no examples: " + n);
        }
        if (3L * n < 100) {
            return Math.min(25, 100 / n);
        }
        if (3L * n > 25_000) {
            return Math.max(1, 25_000 / n);
        }
        return 3;
    }

    /** The estimate of a file's {@link TokenLengths}. */
    public static CostEstimate of(TokenLengths file, OptionalInt epochs, List<Double> pricesPer1k) {
        return of(file.perExample(), file.skippedSequences(), file.skippedTokens(), file.maxSeqLen(), epochs, pricesPer1k);
    }

    /**
     * @param lengths each example's sequence lengths in tokens, untruncated (one per sequence; two for a pair)
     * @param skippedSequences how many of those sequences training skips (no trained token left after truncation)
     * @param skippedTokensPerEpoch their tokens, each counted up to maxSeqLen
     * @param epochs the epoch count, or empty for {@link #defaultEpochs}
     * @param pricesPer1k dollars per 1K tokens to price at
     */
    public static CostEstimate of(List<int[]> lengths, int skippedSequences, long skippedTokensPerEpoch, int maxSeqLen,
            OptionalInt epochs, List<Double> pricesPer1k) {
        if (lengths.isEmpty() || maxSeqLen < 1 || (epochs.isPresent() && epochs.getAsInt() < 1) || skippedSequences < 0
                || skippedTokensPerEpoch < 0) {
            throw new IllegalArgumentException(lengths.size() + " examples, maxSeqLen " + maxSeqLen + ", epochs " + epochs
                    + ", skipped " + skippedSequences + " / " + skippedTokensPerEpoch);
        }
        long perEpoch = 0;
        int over = 0;
        for (int[] example : lengths) {
            boolean truncated = false;
            for (int length : example) {
                perEpoch += Math.min(maxSeqLen, length);
                truncated |= length > maxSeqLen;
            }
            over += truncated ? 1 : 0;
        }
        if (skippedTokensPerEpoch > perEpoch) {
            throw new IllegalArgumentException("skipped tokens " + skippedTokensPerEpoch + " exceed the " + perEpoch + " of an epoch");
        }
        int e = epochs.orElse(defaultEpochs(lengths.size()));
        long billed = perEpoch * e;
        List<Price> prices = new ArrayList<>();
        for (double per1k : pricesPer1k) {
            prices.add(new Price(per1k, billed / 1000.0 * per1k));
        }
        return new CostEstimate(lengths.size(), e, epochs.isEmpty(), maxSeqLen, perEpoch, billed, over, skippedSequences,
                skippedTokensPerEpoch, prices, null, null);
    }

    /** The tokens training runs through: every epoch's tokens but those of the sequences it skips. */
    public long trainingTokens() {
        return (tokensPerEpoch - skippedTokensPerEpoch) * epochs;
    }

    /** This estimate with a measured throughput and the training time it projects for {@link #trainingTokens()}. */
    public CostEstimate withThroughput(Throughput measured) {
        if (!(measured.tokensPerSecond() > 0)) {
            throw new IllegalArgumentException("tokens per second must be positive: " + measured.tokensPerSecond());
        }
        return new CostEstimate(examples, epochs, epochsAuto, maxSeqLen, tokensPerEpoch, billedTokens, overMaxSeqLen, skippedSequences,
                skippedTokensPerEpoch, prices, measured, trainingTokens() / measured.tokensPerSecond());
    }

    /** The JSON object of {@code tailor data estimate --json}. */
    public Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("examples", examples);
        json.put("epochs", epochs);
        json.put("epochs_rule", epochsAuto ? "auto" : "given");
        json.put("max_seq_len", maxSeqLen);
        json.put("tokens_per_epoch", tokensPerEpoch);
        json.put("billed_tokens", billedTokens);
        json.put("over_max_seq_len", overMaxSeqLen);
        json.put("skipped_sequences", skippedSequences);
        json.put("skipped_tokens_per_epoch", skippedTokensPerEpoch);
        List<Map<String, Object>> priced = new ArrayList<>();
        for (Price p : prices) {
            Map<String, Object> price = new LinkedHashMap<>();
            price.put("per_1k", p.per1k());
            price.put("total", p.total());
            priced.add(price);
        }
        json.put("prices", priced);
        Map<String, Object> speed = null;
        if (throughput != null) {
            speed = new LinkedHashMap<>();
            speed.put("examples_per_second", throughput.examplesPerSecond());
            speed.put("tokens_per_second", throughput.tokensPerSecond());
            speed.put("steps_measured", throughput.stepsMeasured());
            speed.put("device", throughput.device());
            speed.put("threads", throughput.threads());
            speed.put("training", throughput.training());
        }
        json.put("throughput", speed);
        json.put("projected_seconds", projectedSeconds);
        return json;
    }

    /** A few readable lines for the terminal and reports. */
    public String summary() {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "examples: %,d", examples));
        if (overMaxSeqLen > 0) {
            out.append(String.format(Locale.ROOT, " (%,d over max_seq_len %,d: truncated in training, billed as %,d tokens)",
                    overMaxSeqLen, maxSeqLen, maxSeqLen));
        }
        out.append('\n');
        out.append("epochs: ").append(epochs).append(epochsAuto ? String.format(Locale.ROOT,
                " (auto: OpenAI's default for %,d examples)", examples) : "").append('\n');
        out.append(String.format(Locale.ROOT, "tokens per epoch: %,d (each sequence up to max_seq_len %,d)%n", tokensPerEpoch, maxSeqLen));
        out.append(String.format(Locale.ROOT, "billed tokens: %,d (tokens per epoch x %d epoch%s)%n", billedTokens, epochs,
                epochs == 1 ? "" : "s"));
        if (skippedSequences > 0) {
            out.append(String.format(Locale.ROOT, "skipped by training: %,d sequences (%,d tokens per epoch) keep no trained token after"
                    + " truncation to %,d: billed, not trained%n", skippedSequences, skippedTokensPerEpoch, maxSeqLen));
        }
        for (Price p : prices) {
            out.append(String.format(Locale.ROOT, "price at $%s per 1K tokens: $%s%n", rate(p.per1k()), dollars(p.total())));
        }
        if (throughput != null) {
            out.append(String.format(Locale.ROOT, "throughput: %,.0f tokens/s, %,.2f sequences/s (%d timed steps after a warm-up step;"
                            + " %s, %d threads; %s)%n", throughput.tokensPerSecond(), throughput.examplesPerSecond(),
                    throughput.stepsMeasured(), throughput.device(), throughput.threads(), throughput.training()));
            out.append("projected training time on this machine: ").append(duration(projectedSeconds))
                    .append(skippedSequences > 0 ? " (tokens of the sequences trained x epochs / tokens per second)\n"
                            : " (billed tokens / tokens per second)\n");
        }
        return out.toString();
    }

    /** A rate as given: 0.008, not 0.0080. */
    static String rate(double per1k) {
        return BigDecimal.valueOf(per1k).stripTrailingZeros().toPlainString();
    }

    /** Cents for ordinary amounts, four decimals below ten cents (a small file's cost would round to zero). */
    static String dollars(double amount) {
        return String.format(Locale.ROOT, amount >= 0.1 || amount == 0 ? "%,.2f" : "%.4f", amount);
    }

    /** 42 s, 3 min 20 s, 2 h 05 min, 3 d 4 h. */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) {
            return seconds < 1 ? String.format(Locale.ROOT, "%.2f s", seconds) : s + " s";
        }
        if (s < 3600) {
            return (s / 60) + " min " + (s % 60) + " s";
        }
        if (s < 86_400) {
            return String.format(Locale.ROOT, "%d h %02d min", s / 3600, s % 3600 / 60);
        }
        return (s / 86_400) + " d " + (s % 86_400 / 3600) + " h";
    }
}
