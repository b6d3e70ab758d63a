package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.GeneratedModel;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decoding step with a prompt chunk riding along gives what the decoding step and the chunk's
 * prefill give one after the other, and leaves the same cache behind.
 */
class DecodeWithPromptChunkTest {
    @TempDir
    Path tmp;

    @Test
    void aChunkInTheDecodingPassEqualsPrefillingItApart() {
        GeneratedModel.write(tmp.resolve("tiny"), ModelPreset.TINY, 4, DType.F32);
        try (Model model = Model.load(tmp.resolve("tiny"), Device.CPU, null);
             Adapter qv = AdapterBankTest.randomized(Adapter.create(model, AdapterConfig.forTraining(4, 8, 0, List.of("q_proj", "v_proj"),
                     false, "tiny"), 1), 1);
             Adapter all = AdapterBankTest.randomized(Adapter.create(model, AdapterConfig.forTraining(2, 4, 0, List.of("all-linear"),
                     false, "tiny"), 2), 2);
             SlotKvCache fused = model.newSlotCache(4, 64);
             SlotKvCache apart = model.newSlotCache(4, 64);
             PointerScope scope = new PointerScope()) {
            Random random = new Random(7);
            int[][] prompts = {random.ints(9, 3, 500).toArray(), random.ints(5, 3, 500).toArray(), random.ints(12, 3, 500).toArray()};
            List<Adapter> adapters = Arrays.asList(qv, null);
            for (SlotKvCache cache : List.of(fused, apart)) {
                model.prefill(cache, 0, prompts[0], qv);
                model.prefill(cache, 1, prompts[1], null);
                model.prefill(cache, 2, Arrays.copyOfRange(prompts[2], 0, 4), all); // a prompt read in part
            }
            int[] next = {17, 42};
            int[] rest = Arrays.copyOfRange(prompts[2], 4, 12);
            Tensor got = model.decode(fused, next, adapters, new PromptChunk(2, rest, all));
            Tensor decoded = model.decode(apart, next, adapters);
            Tensor prefilled = model.prefill(apart, 2, rest, all);
            assertArrayEquals(new long[] {3, model.config.vocabSize()}, Tensors.shape(got));
            assertClose(decoded, got.narrow(0, 0, 2), "the decoding rows");
            assertClose(prefilled.view(1, -1), got.narrow(0, 2, 1), "the chunk's next-token logits");
            for (int slot = 0; slot < 3; slot++) {
                assertEquals(apart.length(slot), fused.length(slot), "slot " + slot);
            }
            // the caches hold the same keys and values: the next step, the finished prompt now decoding too, agrees
            int[] three = {5, 6, 7};
            List<Adapter> threeAdapters = Arrays.asList(qv, null, all);
            assertClose(model.decode(apart, three, threeAdapters), model.decode(fused, three, threeAdapters), "the step after");
            assertThrows(IllegalArgumentException.class, () -> model.decode(fused, next, adapters, new PromptChunk(1, rest, null)),
                    "a chunk cannot go into a decoding row's slot");
        }
    }

    private static void assertClose(Tensor want, Tensor got, String what) {
        float[] w = Tensors.toFloats(want.contiguous());
        float[] g = Tensors.toFloats(got.contiguous());
        assertEquals(w.length, g.length, what);
        double worst = 0;
        for (int i = 0; i < w.length; i++) {
            worst = Math.max(worst, Math.abs(w[i] - g[i]));
        }
        assertTrue(worst < 1e-4, what + ": largest difference " + worst);
    }
}
