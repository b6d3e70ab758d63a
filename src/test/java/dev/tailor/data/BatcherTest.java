package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BatcherTest {
    static final int PAD = 7;
    static final int MAX = 64;

    /**
     * n examples with lengths 1..MAX; example k's ids are k * 1000 + position (so every token says
     * which example it came from and where), its labels IGNORE at 0 and on every third token.
     */
    static List<TokenizedExample> examples(int n, long seed) {
        Random random = new Random(seed);
        List<TokenizedExample> examples = new ArrayList<>();
        for (int k = 1; k <= n; k++) {
            int length = 1 + random.nextInt(MAX);
            int[] ids = new int[length];
            int[] labels = new int[length];
            for (int i = 0; i < length; i++) {
                ids[i] = k * 1000 + i;
                labels[i] = i == 0 || i % 3 == 0 ? ChatEncoder.IGNORE : ids[i];
            }
            examples.add(new TokenizedExample(k, ids, labels, false));
        }
        return examples;
    }

    @ParameterizedTest(name = "packing={0}")
    @ValueSource(booleans = {true, false})
    void everyExampleAppearsExactlyOncePerEpochWithPositionsRestartingAndNoLabelOnPadding(boolean packing) {
        List<TokenizedExample> examples = examples(101, 1);

        List<Batch> batches = Batcher.epoch(examples, 0, 42, 4, MAX, packing, false, PAD);

        List<TokenizedExample> seen = new ArrayList<>();
        for (Batch batch : batches) {
            assertTrue(batch.rows() <= 4 && batch.length() <= MAX, batch.toString());
            List<TokenizedExample> inBatch = unpack(batch);
            assertEquals(batch.examples(), inBatch.size());
            seen.addAll(inBatch);
            for (int i = 0; i < batch.ids().length; i++) {
                if (batch.segments()[i] == 0) {
                    assertEquals(PAD, batch.ids()[i]);
                    assertEquals(ChatEncoder.IGNORE, batch.labels()[i]);
                }
            }
            assertEquals(inBatch.stream().mapToLong(TokenizedExample::trainedTokens).sum(), batch.trainedTokens());
            assertEquals(inBatch.stream().mapToLong(TokenizedExample::length).sum(), batch.realTokens());
        }
        seen.sort((a, b) -> Integer.compare(a.line(), b.line()));
        assertEquals(examples, seen);
    }

    @Test
    void packedRowsHoldSeveralExamplesAndNeverExceedMaxSeqLen() {
        List<TokenizedExample> examples = examples(200, 2);

        List<Batch> batches = Batcher.epoch(examples, 3, 42, 2, MAX, true, false, PAD);

        int rows = batches.stream().mapToInt(Batch::rows).sum();
        long tokens = examples.stream().mapToLong(TokenizedExample::length).sum();
        long minimum = (tokens + MAX - 1) / MAX;
        assertTrue(rows <= minimum * 1.1, rows + " rows, at least " + minimum + " needed, " + examples.size() + " unpacked");
        for (Batch batch : batches) {
            for (int r = 0; r < batch.rows(); r++) {
                long real = Arrays.stream(batch.segments(), r * batch.length(), (r + 1) * batch.length()).filter(s -> s != 0).count();
                assertTrue(real <= MAX);
            }
        }
    }

    @Test
    void bestFitDecreasingFillsRowsAsComputedByHand() {
        // capacity 10, lengths 6 5 4 3 2: 6 opens row A (room 4), 5 opens B (room 5), 4 fills A,
        // 3 goes to B (room 2), 2 fills B: two full rows, A = [6, 4], B = [5, 3, 2].
        List<TokenizedExample> examples = new ArrayList<>();
        for (int length : new int[] {3, 6, 2, 5, 4}) {
            examples.add(new TokenizedExample(length, new int[length], new int[length], false));
        }

        List<Batch> batches = Batcher.epoch(examples, 0, 9, 8, 10, true, false, PAD);

        assertEquals(1, batches.size());
        Batch batch = batches.get(0);
        assertEquals(2, batch.rows());
        assertEquals(10, batch.length());
        assertEquals(10 * 2, batch.realTokens());
        List<List<Integer>> rows = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            List<Integer> lengths = new ArrayList<>();
            for (int i = r * 10; i < (r + 1) * 10; i++) {
                if (i == r * 10 || batch.segments()[i] != batch.segments()[i - 1]) {
                    lengths.add(0);
                }
                lengths.set(lengths.size() - 1, lengths.get(lengths.size() - 1) + 1);
            }
            rows.add(lengths);
        }
        assertTrue(rows.contains(List.of(6, 4)) && rows.contains(List.of(5, 3, 2)), rows.toString());
    }

    @Test
    void positionsRestartAndSegmentsCountUpInEveryRow() {
        List<TokenizedExample> examples = List.of(
                new TokenizedExample(1, new int[] {1, 2, 3}, new int[] {-100, 2, 3}, false),
                new TokenizedExample(2, new int[] {4, 5}, new int[] {-100, 5}, false));

        Batch batch = Batcher.epoch(examples, 0, 0, 1, 8, true, true, PAD).get(0);

        // longest first: [1 2 3][4 5] then padding to maxSeqLen (padToMax)
        assertArrayEquals(new long[] {1, 2, 3, 4, 5, PAD, PAD, PAD}, batch.ids());
        assertArrayEquals(new long[] {-100, 2, 3, -100, 5, -100, -100, -100}, batch.labels());
        assertArrayEquals(new long[] {0, 1, 2, 0, 1, 0, 0, 0}, batch.positions());
        assertArrayEquals(new int[] {1, 1, 1, 2, 2, 0, 0, 0}, batch.segments());
        assertEquals(2, batch.examples());
        assertEquals(3, batch.trainedTokens());
        assertEquals(5, batch.realTokens());
    }

    @Test
    void sameSeedAndEpochGiveTheSameBatchesAndAnotherEpochAnotherOrder() {
        List<TokenizedExample> examples = examples(50, 3);
        for (boolean packing : new boolean[] {true, false}) {
            List<Batch> first = Batcher.epoch(examples, 1, 42, 4, MAX, packing, false, PAD);

            assertEquals(first, Batcher.epoch(new ArrayList<>(examples), 1, 42, 4, MAX, packing, false, PAD));
            assertNotEquals(order(first), order(Batcher.epoch(examples, 2, 42, 4, MAX, packing, false, PAD)));
            assertNotEquals(order(first), order(Batcher.epoch(examples, 1, 43, 4, MAX, packing, false, PAD)));
        }
    }

    @Test
    void paddedBatchesPadToTheirLongestExampleOrToMaxSeqLen() {
        List<TokenizedExample> examples = examples(30, 4);
        Map<Integer, Integer> lengthOfLine = new HashMap<>();
        examples.forEach(e -> lengthOfLine.put(e.line(), e.length()));

        List<Batch> longest = Batcher.epoch(examples, 0, 5, 4, MAX, false, false, PAD);
        List<Batch> toMax = Batcher.epoch(examples, 0, 5, 4, MAX, false, true, PAD);

        assertEquals(8, longest.size());
        assertEquals(List.of(4, 4, 4, 4, 4, 4, 4, 2), longest.stream().map(Batch::rows).toList());
        for (int b = 0; b < longest.size(); b++) {
            Batch batch = longest.get(b);
            int longestExample = unpack(batch).stream().mapToInt(e -> lengthOfLine.get(e.line())).max().orElseThrow();
            assertEquals(longestExample, batch.length());
            assertEquals(batch.rows(), batch.examples());
            assertEquals(MAX, toMax.get(b).length());
            assertEquals(unpack(batch), unpack(toMax.get(b)));
        }
    }

    @Test
    void anExampleLongerThanMaxSeqLenIsAProgrammingError() {
        List<TokenizedExample> examples = List.of(new TokenizedExample(1, new int[9], new int[9], false));

        assertThrows(IllegalArgumentException.class, () -> Batcher.epoch(examples, 0, 0, 1, 8, true, false, PAD));
    }

    /** The examples of a batch, read back from ids/labels/positions/segments (line = ids[0] / 1000). */
    static List<TokenizedExample> unpack(Batch batch) {
        List<TokenizedExample> out = new ArrayList<>();
        for (int r = 0; r < batch.rows(); r++) {
            int i = r * batch.length();
            int end = i + batch.length();
            int expectedSegment = 1;
            while (i < end && batch.segments()[i] != 0) {
                assertEquals(expectedSegment, batch.segments()[i]);
                int start = i;
                while (i < end && batch.segments()[i] == expectedSegment) {
                    assertEquals(i - start, batch.positions()[i], "positions restart at 0 per example");
                    i++;
                }
                int[] ids = Arrays.stream(batch.ids(), start, i).mapToInt(Math::toIntExact).toArray();
                int[] labels = Arrays.stream(batch.labels(), start, i).mapToInt(Math::toIntExact).toArray();
                out.add(new TokenizedExample(ids[0] / 1000, ids, labels, false));
                expectedSegment++;
            }
            for (; i < end; i++) {
                assertEquals(0, batch.segments()[i], "padding only at the end of a row");
            }
        }
        return out;
    }

    static List<Integer> order(List<Batch> batches) {
        return batches.stream().flatMap(b -> unpack(b).stream()).map(TokenizedExample::line).toList();
    }
}
