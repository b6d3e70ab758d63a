package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A data file's token lengths exactly as training encodes it (the model's tokenizer and chat
 * template through {@link ChatEncoder}), untruncated, per example: one sequence for chat,
 * completion and text, two for a preference pair (DPO runs the chosen and the rejected one). Read
 * in one streaming pass with the same {@link RecordChecker} as validation; the first problem stops
 * it. Also keeps a uniform random sample of the sequences that still have a trained token after
 * truncation, encoded as training encodes them, for timing training steps on this file's data.
 *
 * @param format the file's format
 * @param maxSeqLen the truncation length training will use
 * @param perExample the untruncated length of each sequence, one array per example in file order
 * @param skippedSequences sequences with no trained token left after truncation: training skips them
 * @param skippedTokens their tokens, each counted up to maxSeqLen
 * @param sample up to the requested number of trainable sequences, truncated to maxSeqLen
 */
public record TokenLengths(DataFormat format, int maxSeqLen, List<int[]> perExample, int skippedSequences, long skippedTokens,
        List<TokenizedExample> sample) {
    private static final String SEE_ALL = "; run `tailor data validate` on the file to see every problem";

    /**
     * Reads the file; a TailorException names the first bad FILE:LINE (invalid record, an example
     * the encoder cannot encode, or one whose tokens cannot be counted: RFT prompts and images).
     *
     * @param sampleSize how many trainable sequences to keep (reservoir sampling, seeded)
     */
    public static TokenLengths read(Path file, ChatEncoder encoder, int maxSeqLen, int sampleSize, long seed) {
        if (maxSeqLen < 1 || sampleSize < 0) {
            throw new IllegalArgumentException("maxSeqLen " + maxSeqLen + ", sampleSize " + sampleSize);
        }
        Reader reader = new Reader(file, encoder, maxSeqLen, sampleSize, new Random(seed));
        JsonlSource.read(file, reader);
        if (reader.lengths.isEmpty()) {
            throw new TailorException(file + ": the file has no examples; write one JSON object per line");
        }
        List<TokenizedExample> sample = reader.reservoir.stream().map(e -> encoder.encode(e, maxSeqLen)).toList();
        return new TokenLengths(reader.checker.fileFormat(), maxSeqLen, List.copyOf(reader.lengths), reader.skipped, reader.skippedTokens,
                sample);
    }

    /** Counts records as they stream by and samples their trainable sequences (Algorithm R). */
    private static final class Reader implements JsonlSource.Visitor, RecordChecker.Sink {
        final Path file;
        final ChatEncoder encoder;
        final int maxSeqLen;
        final int sampleSize;
        final Random random;
        final RecordChecker checker;
        final List<int[]> lengths = new ArrayList<>();
        final List<Example> reservoir = new ArrayList<>();
        long trainable;
        int skipped;
        long skippedTokens;

        Reader(Path file, ChatEncoder encoder, int maxSeqLen, int sampleSize, Random random) {
            this.file = file;
            this.encoder = encoder;
            this.maxSeqLen = maxSeqLen;
            this.sampleSize = sampleSize;
            this.random = random;
            this.checker = new RecordChecker(this, false, true, null, file);
        }

        @Override
        public void record(int line, JsonNode node) {
            CheckedRecord r = checker.check(line, node);
            if (r.examples().isEmpty()) {
                throw new TailorException(file + ":" + line + ": " + uncountable(r) + "; the estimate covers chat, completion, text"
                        + " and preference data");
            }
            int[] sequences = new int[r.examples().size()];
            for (int i = 0; i < sequences.length; i++) {
                Example example = r.examples().get(i);
                TokenizedExample full = encode(example);
                sequences[i] = full.length();
                if (trainedWithin(full, maxSeqLen)) {
                    sample(example);
                } else {
                    skipped++;
                    skippedTokens += Math.min(maxSeqLen, full.length());
                }
            }
            lengths.add(sequences);
        }

        @Override
        public void problem(int line, String code, String message) {
            error(line, code, message);
        }

        @Override
        public void error(int line, String code, String message) {
            throw new TailorException(file + ":" + line + ": " + message + SEE_ALL);
        }

        private TokenizedExample encode(Example example) {
            try {
                return encoder.encode(example, Integer.MAX_VALUE);
            } catch (TailorException | IllegalStateException e) {
                throw new TailorException(file + ":" + example.line() + ": " + e.getMessage().replaceAll("\\s+", " ") + SEE_ALL);
            }
        }

        /** Algorithm R: after n offers, each of them is in the reservoir with probability sampleSize / n. */
        private void sample(Example example) {
            trainable++;
            if (reservoir.size() < sampleSize) {
                reservoir.add(example);
            } else if (sampleSize > 0) {
                long slot = (long) (random.nextDouble() * trainable);
                if (slot < sampleSize) {
                    reservoir.set((int) slot, example);
                }
            }
        }

        private static String uncountable(CheckedRecord r) {
            if (r.images() > 0) {
                return "an example with images: image tokens cannot be counted here";
            }
            return r.format() == DataFormat.RFT ? "an RFT example (the model writes the answer, graders score it): its training"
                    + " tokens are not known before training" : "an example without tokens to count";
        }
    }

    /** Whether truncation to maxSeqLen leaves a trained token (training skips the sequence otherwise). */
    private static boolean trainedWithin(TokenizedExample full, int maxSeqLen) {
        for (int i = 0; i < Math.min(maxSeqLen, full.length()); i++) {
            if (full.labels()[i] != ChatEncoder.IGNORE) {
                return true;
            }
        }
        return false;
    }
}
