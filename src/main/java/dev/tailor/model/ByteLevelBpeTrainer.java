package dev.tailor.model;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Learns a GPT-2/Qwen-style byte-level BPE from text: words are split with Qwen2's pre-tokenizer
 * regex, spelled as bytes (each byte one printable character of GPT-2's byte-to-unicode map), and
 * the most frequent adjacent pair is merged until the vocabulary has the requested size. Ids
 * 0..255 are the 256 bytes, so any text stays encodable. Deterministic: ties go to the pair with
 * the smaller (left id, right id).
 */
final class ByteLevelBpeTrainer {
    /** Qwen2's split: contractions, letter runs with one leading non-letter, single digits, punctuation runs, line breaks, spaces. */
    static final String SPLIT_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Unicode {@code \s} and classes, as in the regex engine of HF tokenizers (Oniguruma). */
    private static final Pattern SPLIT = Pattern.compile(SPLIT_REGEX, Pattern.UNICODE_CHARACTER_CLASS);
    private static final int BYTES = 256;
    private static final String[] BYTE_TO_UNICODE = gpt2BytesToUnicode();

    /** The learnt tokens (index = id) and merges in rank order. */
    record Vocabulary(List<String> tokens, List<String[]> merges) {}

    private final List<String> tokens = new ArrayList<>();
    private final Map<String, Integer> ids = new HashMap<>();
    private final List<String[]> merges = new ArrayList<>();
    private final int[][] words;
    private final int[] wordCounts;
    private final Map<Long, Long> pairCounts = new HashMap<>();
    /** Words that contain (or once contained) each pair; words that no longer do are skipped. */
    private final Map<Long, Set<Integer>> pairWords = new HashMap<>();

    private ByteLevelBpeTrainer(String text) {
        for (int b : bytesInIdOrder()) {
            addToken(byteToUnicode(b));
        }
        Map<String, Integer> counts = new TreeMap<>();
        Matcher pieces = SPLIT.matcher(text);
        while (pieces.find()) {
            counts.merge(pieces.group(), 1, Integer::sum);
        }
        this.words = new int[counts.size()][];
        this.wordCounts = new int[counts.size()];
        int w = 0;
        for (Map.Entry<String, Integer> entry : counts.entrySet()) {
            byte[] utf8 = entry.getKey().getBytes(StandardCharsets.UTF_8);
            int[] symbols = new int[utf8.length];
            for (int i = 0; i < utf8.length; i++) {
                symbols[i] = ids.get(byteToUnicode(utf8[i] & 0xFF));
            }
            this.words[w] = symbols;
            this.wordCounts[w] = entry.getValue();
            countPairs(w++, +1);
        }
    }

    /**
     * Learns {@code size} tokens (256 bytes + merged tokens) from {@code text}, or fewer when every
     * word of the text has become a single token.
     */
    static Vocabulary train(String text, int size) {
        ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(text);
        boolean pairsLeft = true;
        while (trainer.tokens.size() < size && pairsLeft) {
            pairsLeft = trainer.mergeMostFrequentPair();
        }
        return new Vocabulary(List.copyOf(trainer.tokens), List.copyOf(trainer.merges));
    }

    private boolean mergeMostFrequentPair() {
        long best = -1;
        long bestCount = 0;
        for (Map.Entry<Long, Long> entry : pairCounts.entrySet()) {
            long pair = entry.getKey();
            long count = entry.getValue();
            if (count > bestCount || (count == bestCount && pair < best)) {
                best = pair;
                bestCount = count;
            }
        }
        if (best < 0) {
            return false;
        }
        int left = (int) (best >>> 32);
        int right = (int) best;
        String merged = tokens.get(left) + tokens.get(right);
        // Different merge paths can spell the same token (ab+c, a+bc): HF then reuses its id too.
        int mergedId = ids.containsKey(merged) ? ids.get(merged) : addToken(merged);
        merges.add(new String[] {tokens.get(left), tokens.get(right)});
        for (int w : pairWords.remove(best)) {
            int[] replaced = replacePair(words[w], left, right, mergedId);
            if (replaced.length != words[w].length) {
                countPairs(w, -1);
                words[w] = replaced;
                countPairs(w, +1);
            }
        }
        return true;
    }

    /** Replaces each (left, right) occurrence scanning left to right, as BPE encoding does. */
    private static int[] replacePair(int[] symbols, int left, int right, int merged) {
        int[] out = new int[symbols.length];
        int n = 0;
        for (int i = 0; i < symbols.length; i++) {
            if (i + 1 < symbols.length && symbols[i] == left && symbols[i + 1] == right) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = symbols[i];
            }
        }
        return n == symbols.length ? symbols : Arrays.copyOf(out, n);
    }

    private void countPairs(int w, int sign) {
        int[] symbols = words[w];
        for (int i = 0; i + 1 < symbols.length; i++) {
            long pair = ((long) symbols[i] << 32) | symbols[i + 1];
            long count = pairCounts.getOrDefault(pair, 0L) + (long) sign * wordCounts[w];
            if (count == 0) {
                pairCounts.remove(pair);
            } else {
                pairCounts.put(pair, count);
            }
            if (sign > 0) {
                pairWords.computeIfAbsent(pair, p -> new HashSet<>()).add(w);
            }
        }
    }

    private int addToken(String token) {
        ids.put(token, tokens.size());
        tokens.add(token);
        return tokens.size() - 1;
    }

    /** The one-character spelling of a byte in vocabularies and merges ("Ġ" for a space). */
    static String byteToUnicode(int b) {
        return BYTE_TO_UNICODE[b];
    }

    /**
     * GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
     * (controls, space, NBSP, soft hyphen) for U+0100 onwards in byte order.
     */
    private static String[] gpt2BytesToUnicode() {
        String[] spelling = new String[BYTES];
        int shifted = 0;
        for (int b = 0; b < BYTES; b++) {
            spelling[b] = String.valueOf((char) (isPrintable(b) ? b : BYTES + shifted++));
        }
        return spelling;
    }

    private static boolean isPrintable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    /** GPT-2 and Qwen give ids 0..255 to the printable bytes first ("!" = 0), then the others. */
    private static List<Integer> bytesInIdOrder() {
        List<Integer> order = new ArrayList<>(BYTES);
        for (int b = 0; b < BYTES; b++) {
            if (isPrintable(b)) {
                order.add(b);
            }
        }
        for (int b = 0; b < BYTES; b++) {
            if (!isPrintable(b)) {
                order.add(b);
            }
        }
        return order;
    }
}
