package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.data.ChatEncoder;
import dev.tailor.data.CostEstimate;
import dev.tailor.data.TokenizedExample;
import dev.tailor.tensor.Engine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A few real training steps on the tiny model: what is counted per step, and nothing left behind. No timing assertions. */
class ThroughputProbeTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void model() {
        Engine.ensureConfigured();
        model = TrainingFixtures.tinyModel(tmp.resolve("tiny"));
    }

    /** A sequence of the given length whose tokens after the first are all trained. */
    static TokenizedExample sequence(int line, int length) {
        int[] ids = new int[length];
        int[] labels = new int[length];
        for (int i = 0; i < length; i++) {
            ids[i] = 40 + (i * 7 + line) % 400;
            labels[i] = i == 0 ? ChatEncoder.IGNORE : ids[i];
        }
        return new TokenizedExample(line, ids, labels, false);
    }

    static TrainingConfig settings() {
        TrainingConfig c = TrainingFixtures.config(model, tmp.resolve("data.jsonl"), null, tmp.resolve("unused"));
        c.batchSize = 2;
        return c;
    }

    @Test
    void tokensAreTheBatchesRealTokensNotTheirPadding() throws IOException {
        Set<Path> before = scratchDirs();
        // two sequences and batch size 2: every step trains both, padded to 30 tokens, 40 of them real
        CostEstimate.Throughput t = ThroughputProbe.measure(settings(), List.of(sequence(1, 10), sequence(2, 30)), 2);

        assertEquals(2, t.stepsMeasured());
        assertTrue(t.tokensPerSecond() > 0 && Double.isFinite(t.tokensPerSecond()), t.toString());
        assertEquals(20.0, t.tokensPerSecond() / t.examplesPerSecond(), 1e-9, "real tokens per sequence: (10 + 30) / 2");
        assertEquals("cpu", t.device());
        assertEquals(Engine.threads(), t.threads());
        assertEquals("LoRA r 4 on q_proj,k_proj,v_proj,o_proj, batch 2, padded to the longest", t.training());
        assertEquals(before, scratchDirs(), "the probe's scratch directory is deleted");
    }

    @Test
    void fullFineTuningIsTimedToo() {
        TrainingConfig c = settings();
        c.full = true;
        CostEstimate.Throughput t = ThroughputProbe.measure(c, List.of(sequence(1, 12), sequence(2, 12), sequence(3, 12)), 1);
        assertEquals(1, t.stepsMeasured());
        assertTrue(t.training().startsWith("full fine-tuning, batch 2"), t.training());
        assertEquals(12.0, t.tokensPerSecond() / t.examplesPerSecond(), 1e-9);
    }

    @Test
    void nothingToTrainOnIsOneLine() {
        String e = assertThrows(TailorException.class, () -> ThroughputProbe.measure(settings(), List.of(), 2)).getMessage();
        assertTrue(e.contains("no example has a token to train on"), e);
    }

    private static Set<Path> scratchDirs() throws IOException {
        try (Stream<Path> all = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return all.filter(p -> p.getFileName().toString().startsWith("tailor-throughput-")).collect(Collectors.toSet());
        }
    }
}
