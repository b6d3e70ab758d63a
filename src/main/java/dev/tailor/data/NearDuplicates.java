package dev.tailor.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Finds clusters of near-duplicate texts with MinHash and locality-sensitive hashing: each text
 * becomes the set of its word 3-grams (lower-cased, punctuation dropped), summarised by
 * {@link #HASHES} minimum hashes (32 ints per text is all that is kept). The minima come from one
 * hash per 3-gram split into 32 bins (one-permutation hashing: 32 times cheaper than 32 hash
 * functions, the same estimate of the Jaccard similarity). Texts whose signatures
 * agree on all rows of any of {@link #BANDS} bands are candidates (a pair with Jaccard similarity
 * 0.8 is found with probability 0.985), and a candidate joins a cluster when the signatures
 * estimate a similarity of at least {@link #THRESHOLD}. Bands are matched by sorting, one band at
 * a time, so memory stays at the signatures.
 */
final class NearDuplicates {
    static final int HASHES = 32;
    static final int BANDS = 8;
    static final double THRESHOLD = 0.8;
    private static final int ROWS = HASHES / BANDS;
    private static final long[] SEEDS = new long[HASHES];
    /** Odd 64-bit weights of a 3-gram's words (from SplitMix64): unequal 3-grams collide with probability ~2^-64. */
    private static final long[] GRAM_WEIGHTS = {0xE220A8397B1DCDAFL, 0x6E789E6AA1B965F5L, 0x06C45D188009454FL};
    /** Per ASCII character: its lower case when it is a letter or digit, else 0. */
    private static final char[] ASCII_WORD_CHAR = new char[128];

    static {
        for (char c = 0; c < 128; c++) {
            ASCII_WORD_CHAR[c] = Character.isLetterOrDigit(c) ? Character.toLowerCase(c) : 0;
        }
        long s = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < HASHES; i++) {
            s = mix(s + i);
            SEEDS[i] = s | 1;
        }
    }

    /** The signatures one after another and their lines: no object per text, so a million texts cost 132 MB, not 170. */
    private int[] signatures = new int[HASHES * 1024];
    private int[] lines = new int[1024];
    private int count;

    /** Adds a text; texts without words are ignored. */
    void add(int line, String text) {
        int[] signature = signature(text);
        if (signature == null) {
            return;
        }
        if (count == lines.length) {
            lines = Arrays.copyOf(lines, count * 2);
            signatures = Arrays.copyOf(signatures, count * 2 * HASHES);
        }
        System.arraycopy(signature, 0, signatures, count * HASHES, HASHES);
        lines[count++] = line;
    }

    /** The MinHash signature of the text's word 3-grams, or null when it has no words. */
    static int[] signature(String text) {
        long[] words = wordHashes(text);
        if (words.length == 0) {
            return null;
        }
        int[] signature = new int[HASHES];
        Arrays.fill(signature, Integer.MAX_VALUE);
        int grams = Math.max(1, words.length - 2);
        for (int g = 0; g < grams; g++) {
            // one mix per 3-gram of a random-weighted sum: a third of the cost of mixing after every word
            long sum = 0;
            for (int w = g; w < Math.min(words.length, g + 3); w++) {
                sum += words[w] * GRAM_WEIGHTS[w - g];
            }
            long shingle = mix(sum);
            int bin = (int) (shingle >>> 59); // top 5 bits choose one of the 32 bins
            int value = (int) (shingle & Integer.MAX_VALUE);
            if (value < signature[bin]) {
                signature[bin] = value;
            }
        }
        densify(signature);
        return signature;
    }

    /**
     * Fills the bins no shingle fell into (short texts) from the next filled bin to the right,
     * shifted by the distance, so two texts agree on an empty bin only as often as on a filled one
     * (rotation densification, Shrivastava 2017).
     */
    private static void densify(int[] signature) {
        int[] filled = signature.clone();
        for (int i = 0; i < HASHES; i++) {
            if (filled[i] != Integer.MAX_VALUE) {
                continue;
            }
            for (int d = 1; d < HASHES; d++) {
                int source = filled[(i + d) % HASHES];
                if (source != Integer.MAX_VALUE) {
                    signature[i] = (int) (mix(source + d * SEEDS[d]) & Integer.MAX_VALUE);
                    break;
                }
            }
        }
    }

    /** A hash per word: runs of letters and digits, lower-cased; everything else separates words. */
    private static long[] wordHashes(String text) {
        long[] words = new long[16];
        int count = 0;
        long word = 0;
        boolean inWord = false;
        for (int i = 0; i <= text.length(); i++) {
            char c = i < text.length() ? text.charAt(i) : ' ';
            // ASCII through a table: Character's Unicode lookups were the validator's hottest code
            int lower = c < 128 ? ASCII_WORD_CHAR[c] : Character.isLetterOrDigit(c) ? Character.toLowerCase(c) : 0;
            if (lower != 0) {
                word = word * 1_000_003 + lower;
                inWord = true;
            } else if (inWord) {
                if (count == words.length) {
                    words = Arrays.copyOf(words, count * 2);
                }
                words[count++] = word;
                word = 0;
                inWord = false;
            }
        }
        return Arrays.copyOf(words, count);
    }

    /** The clusters (lines in file order, two or more each), ordered by their first line. */
    List<List<Integer>> clusters() {
        int n = count;
        UnionFind sets = new UnionFind(n);
        // each entry: 32 bits of the band's hash, then the text's index; sorting brings a bucket together.
        // Texts that only share the 32 bits are compared too, and the similarity check keeps them apart.
        long[] entries = new long[n];
        for (int band = 0; band < BANDS; band++) {
            for (int i = 0; i < n; i++) {
                entries[i] = (bandKey(signatures, i * HASHES, band) & 0xFFFFFFFF00000000L) | i;
            }
            Arrays.sort(entries);
            int first = 0; // a bucket's members are compared with its first: a star suffices for clusters
            for (int k = 1; k < n; k++) {
                int a = (int) entries[first];
                int b = (int) entries[k];
                if ((entries[k] >>> 32) != (entries[first] >>> 32)) {
                    first = k;
                } else if (similarity(signatures, a * HASHES, signatures, b * HASHES) >= THRESHOLD) {
                    sets.union(a, b);
                }
            }
        }
        List<List<Integer>> clusters = new ArrayList<>();
        for (int[] group : sets.groups()) { // texts were added in file order: ascending indexes are ascending lines
            List<Integer> cluster = new ArrayList<>(group.length);
            for (int i : group) {
                cluster.add(lines[i]);
            }
            clusters.add(cluster);
        }
        return clusters;
    }

    /** A hash of the signature's rows in one band: signatures with equal rows there share the key (LSH candidates). */
    static long bandKey(int[] signature, int band) {
        return bandKey(signature, 0, band);
    }

    private static long bandKey(int[] signatures, int offset, int band) {
        long key = band;
        for (int r = 0; r < ROWS; r++) {
            key = mix(key * 31 + signatures[offset + band * ROWS + r]);
        }
        return key;
    }

    /** The fraction of agreeing minimum hashes: an unbiased estimate of the Jaccard similarity. */
    static double similarity(int[] a, int[] b) {
        return similarity(a, 0, b, 0);
    }

    private static double similarity(int[] a, int aOffset, int[] b, int bOffset) {
        int same = 0;
        for (int i = 0; i < HASHES; i++) {
            same += a[aOffset + i] == b[bOffset + i] ? 1 : 0;
        }
        return same / (double) HASHES;
    }

    /** SplitMix64's finaliser: a cheap, well-mixed 64-bit hash. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
