package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** logprobs computes logits in chunks of positions; across chunk boundaries it must equal one unchunked pass. */
class LongSequenceLogprobsTest {
    @Test
    void chunkedLogprobsEqualOneFullLogSoftmax() {
        Engine.ensureConfigured();
        Path dir = Path.of("src/test/resources/reference-models/llama-gqa-f32/model");
        try (Model model = Model.load(dir, Device.CPU, null); PointerScope scope = new PointerScope()) {
            int t = 600;
            int[] ids = new SplittableRandom(5).ints(t, 0, model.vocabSize()).toArray();
            double[] chunked = model.logprobs(ids);

            long[] asLongs = new long[t];
            for (int i = 0; i < t; i++) {
                asLongs[i] = ids[i];
            }
            Tensor input = Tensors.fromLongs(asLongs, 1, t);
            Tensor hidden = model.hiddenStates(input, Tensors.arange(t, Device.CPU).view(1, t), AttentionMasks.causal(t, Device.CPU), null, t - 1);
            Tensor logp = torch.log_softmax(model.logits(hidden), 2);
            float[] all = Tensors.toFloats(logp); // [1, t, vocab]
            int vocab = model.vocabSize();
            assertEquals(t - 1, chunked.length);
            for (int i = 0; i < t - 1; i++) {
                assertEquals(all[i * vocab + ids[i + 1]], chunked[i], 1e-5, "position " + i);
            }
        }
    }
}
