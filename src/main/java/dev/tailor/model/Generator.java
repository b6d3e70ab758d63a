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
        if (tokenizer == null && !params.stop().isEmpty()) {
            throw new IllegalArgumentException("stop strings need a tokenizer");
        }
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
        Sequence[] seqs = new Sequence[batch];
        for (int i = 0; i < batch; i++) {
            seqs[i] = new Sequence(prompts.get(i), new Sampler(params), new StopStrings(params.stop()));
        }
        try (KvCache cache = model.newCache(batch, longest + maxNew);
             KeyPadding padding = new KeyPadding(prompts, longest, longest + maxNew, model)) {
            try (PointerScope step = new PointerScope()) {
                Tensor ids = Tensors.fromLongs(padding.leftPaddedIds(), batch, longest).to(model.device.torchDevice(), torch.ScalarType.Long);
                Tensor positions = Tensors.fromLongs(padding.positions(), batch, longest).to(model.device.torchDevice(), torch.ScalarType.Long);
                Tensor allowed = AttentionMasks.causalWithPadding(padding.valid(longest), 0, longest, model.device);
                Tensor hidden = model.hiddenStates(ids, positions, allowed, cache, longest - 1);
                sampleAll(model.logits(hidden.narrow(1, longest - 1, 1)), seqs, params, listener);
            }
            try (Engine.ThreadSetting threads = model.decodesOnNativeKernel(batch) ? Engine.singleThreaded() : null) {
                for (int n = 1; n < maxNew && !allDone(seqs); n++) {
                    try (PointerScope step = new PointerScope()) {
                        long[] last = new long[batch];
                        long[] pos = new long[batch];
                        for (int i = 0; i < batch; i++) {
                            last[i] = seqs[i].lastToken();
                            pos[i] = seqs[i].prompt.length - 1 + n;
                        }
                        int past = cache.length();
                        Tensor ids = Tensors.fromLongs(last, batch, 1).to(model.device.torchDevice(), torch.ScalarType.Long);
                        Tensor positions = Tensors.fromLongs(pos, batch, 1).to(model.device.torchDevice(), torch.ScalarType.Long);
                        Tensor allowed = AttentionMasks.causalWithPadding(padding.valid(past + 1), past, 1, model.device);
                        Tensor hidden = model.hiddenStates(ids, positions, allowed, cache, longest - 1 + n);
                        sampleAll(model.logits(hidden), seqs, params, listener);
                    }
                }
            }
        }
        List<Completion> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            out.add(seqs[i].finish(i, listener));
        }
        return out;
    }

    private void sampleAll(Tensor logits, Sequence[] seqs, SamplingParams params, Listener listener) {
        Tensor rows = logits.view(seqs.length, -1);
        for (int i = 0; i < seqs.length; i++) {
            if (!seqs[i].done) {
                int token = seqs[i].sampler.next(rows.select(0, i), seqs[i].seen());
                seqs[i].accept(token, params, i, listener);
            }
        }
    }

    private static boolean allDone(Sequence[] seqs) {
        return Arrays.stream(seqs).allMatch(s -> s.done);
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

    /** The state of one sequence in the batch. */
    private final class Sequence {
        final int[] prompt;
        final Sampler sampler;
        final StopStrings stops;
        final Tokenizer.StreamDecoder decoder;
        final List<Integer> generated = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        int emitted;
        boolean done;
        String finishReason = "length";

        Sequence(int[] prompt, Sampler sampler, StopStrings stops) {
            this.prompt = prompt;
            this.sampler = sampler;
            this.stops = stops;
            this.decoder = tokenizer == null ? null : tokenizer.streamDecoder(true);
        }

        int lastToken() {
            return generated.get(generated.size() - 1);
        }

        int[] seen() {
            int[] all = Arrays.copyOf(prompt, prompt.length + generated.size());
            for (int i = 0; i < generated.size(); i++) {
                all[prompt.length + i] = generated.get(i);
            }
            return all;
        }

        void accept(int token, SamplingParams params, int index, Listener listener) {
            generated.add(token);
            done = generated.size() >= params.maxTokens();
            if (params.stopTokenIds().contains(token)) {
                done = true;
                finishReason = "stop";
            } else if (decoder != null) {
                int before = text.length();
                text.append(decoder.accept(token));
                if (done) {
                    text.append(decoder.finish());
                }
                int stopAt = stops.find(text.toString(), before);
                if (stopAt >= 0) {
                    text.setLength(stopAt);
                    done = true;
                    finishReason = "stop";
                }
            }
            // a tail that may still become a stop string is held back until it cannot
            emit(done ? text.length() : stops.safeLength(text.toString()), index, listener);
        }

        private void emit(int upTo, int index, Listener listener) {
            if (upTo > emitted && listener != null) {
                listener.onText(index, text.substring(emitted, upTo));
            }
            emitted = Math.max(emitted, upTo);
        }

        Completion finish(int index, Listener listener) {
            if (!done && decoder != null) {
                text.append(decoder.finish()); // ended by the context limit: flush held-back bytes
            }
            emit(text.length(), index, listener);
            return new Completion(prompt, generated.stream().mapToInt(Integer::intValue).toArray(), text.toString(), finishReason);
        }
    }
}
