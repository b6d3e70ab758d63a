package dev.tailor.model;

import dev.tailor.TailorException;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Batched generation with a KV cache: prompts of different lengths are left-padded, prefilled in
 * one forward pass, then decoded one token per step for every unfinished sequence. Text is
 * streamed as it becomes final (never half a UTF-8 character, never a possible stop-string prefix).
 */
public final class Generator {
    /** Receives text as it is produced. */
    @FunctionalInterface
    public interface Listener {
        void onText(int sequence, String delta);
    }

    private final Model model;
    private final Tokenizer tokenizer;

    /** @param tokenizer for text and stop strings; null generates token ids only */
    public Generator(Model model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    public Completion generate(int[] prompt, SamplingParams params, Listener listener) {
        return generate(List.of(prompt), params, listener).get(0);
    }

    public List<Completion> generate(List<int[]> prompts, SamplingParams params, Listener listener) {
        int batch = prompts.size();
        if (batch == 0) {
            return List.of();
        }
        int longest = 0;
        for (int i = 0; i < batch; i++) {
            int[] p = prompts.get(i);
            if (p.length == 0) {
                throw new TailorException("prompt " + i + " is empty");
            }
            model.checkTokens(p, "prompt" + (batch > 1 ? " " + i : ""));
            longest = Math.max(longest, p.length);
        }
        int context = model.config.contextLength();
        if (longest >= context) {
            throw new TailorException("the prompt has " + longest + " tokens, leaving no room in the model's context of "
                    + context + "; shorten the prompt");
        }
        int maxNew = Math.min(params.maxTokens(), context - longest);
        Continuation[] seqs = new Continuation[batch];
        for (int i = 0; i < batch; i++) {
            seqs[i] = new Continuation(prompts.get(i), params, tokenizer);
        }
        try (KvCache cache = model.newCache(batch, longest + maxNew);
             KeyPadding padding = new KeyPadding(prompts, longest, longest + maxNew, model)) {
            try (PointerScope step = new PointerScope()) {
                Tensor ids = Tensors.fromLongs(padding.leftPaddedIds(), batch, longest).to(model.device.torchDevice(), torch.ScalarType.Long);
                Tensor positions = Tensors.fromLongs(padding.positions(), batch, longest).to(model.device.torchDevice(), torch.ScalarType.Long);
                Tensor allowed = AttentionMasks.causalWithPadding(padding.valid(longest), 0, longest, model.device);
                Tensor hidden = model.hiddenStates(ids, positions, allowed, cache, longest - 1);
                sampleAll(model.logits(hidden.narrow(1, longest - 1, 1)), seqs, listener);
            }
            try (Engine.ThreadSetting threads = model.decodesOnNativeKernel(batch) ? Engine.singleThreaded() : null) {
                for (int n = 1; n < maxNew && !allDone(seqs); n++) {
                    try (PointerScope step = new PointerScope()) {
                        long[] last = new long[batch];
                        long[] pos = new long[batch];
                        for (int i = 0; i < batch; i++) {
                            last[i] = seqs[i].lastToken();
                            pos[i] = prompts.get(i).length - 1 + n;
                        }
                        int past = cache.length();
                        Tensor ids = Tensors.fromLongs(last, batch, 1).to(model.device.torchDevice(), torch.ScalarType.Long);
                        Tensor positions = Tensors.fromLongs(pos, batch, 1).to(model.device.torchDevice(), torch.ScalarType.Long);
                        Tensor allowed = AttentionMasks.causalWithPadding(padding.valid(past + 1), past, 1, model.device);
                        Tensor hidden = model.hiddenStates(ids, positions, allowed, cache, longest - 1 + n, padding.firstKeys());
                        sampleAll(model.logits(hidden), seqs, listener);
                    }
                }
            }
        }
        List<Completion> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            emit(listener, i, seqs[i].finish());
            out.add(seqs[i].completion());
        }
        return out;
    }

    private static void sampleAll(Tensor logits, Continuation[] seqs, Listener listener) {
        Tensor rows = logits.view(seqs.length, -1);
        for (int i = 0; i < seqs.length; i++) {
            if (!seqs[i].done()) {
                emit(listener, i, seqs[i].accept(seqs[i].sample(rows.select(0, i))));
            }
        }
    }

    private static void emit(Listener listener, int sequence, String delta) {
        if (listener != null && !delta.isEmpty()) {
            listener.onText(sequence, delta);
        }
    }

    private static boolean allDone(Continuation[] seqs) {
        return Arrays.stream(seqs).allMatch(Continuation::done);
    }

    /** Which cache slots hold real tokens: prompts are left-padded to a common length. */
    private static final class KeyPadding implements AutoCloseable {
        private final List<int[]> prompts;
        private final int longest;
        private static final int PAD_ID = 0; // any in-vocabulary id: padded slots are masked out
        private final Tensor valid;

        KeyPadding(List<int[]> prompts, int longest, int capacity, Model model) {
            this.prompts = prompts;
            this.longest = longest;
            float[] v = new float[prompts.size() * capacity];
            for (int i = 0; i < prompts.size(); i++) {
                int pad = longest - prompts.get(i).length;
                for (int s = pad; s < capacity; s++) {
                    v[i * capacity + s] = 1;
                }
            }
            try (PointerScope scope = new PointerScope()) {
                valid = Tensors.keep(Tensors.fromFloats(v, prompts.size(), capacity).to(model.device.torchDevice(), torch.ScalarType.Bool));
            }
        }

        Tensor valid(int length) {
            return valid.narrow(1, 0, length);
        }

        /** Per row, the first cache position holding a real token (after the padding). */
        int[] firstKeys() {
            return prompts.stream().mapToInt(p -> longest - p.length).toArray();
        }

        long[] leftPaddedIds() {
            long[] ids = new long[prompts.size() * longest];
            Arrays.fill(ids, PAD_ID);
            for (int i = 0; i < prompts.size(); i++) {
                int[] p = prompts.get(i);
                for (int j = 0; j < p.length; j++) {
                    ids[i * longest + longest - p.length + j] = p[j];
                }
            }
            return ids;
        }

        long[] positions() {
            long[] pos = new long[prompts.size() * longest];
            for (int i = 0; i < prompts.size(); i++) {
                int pad = longest - prompts.get(i).length;
                for (int j = pad; j < longest; j++) {
                    pos[i * longest + j] = j - pad;
                }
            }
            return pos;
        }

        @Override
        public void close() {
            valid.close();
        }
    }
}
