package dev.tailor.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * One sequence being generated: draws its next token with its own sampler (so a seed gives the
 * same tokens whatever else shares the batch), turns tokens into streamed text (never half a UTF-8
 * character, never a possible stop-string prefix), and knows when and why it ends.
 */
public final class Continuation {
    private final int[] prompt;
    private final SamplingParams params;
    private final Sampler sampler;
    private final StopStrings stops;
    private final Tokenizer.StreamDecoder decoder;
    private final List<Integer> generated = new ArrayList<>();
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private boolean done;
    private String finishReason = "length";

    /** @param tokenizer for text and stop strings; null produces token ids only */
    public Continuation(int[] prompt, SamplingParams params, Tokenizer tokenizer) {
        if (tokenizer == null && !params.stop().isEmpty()) {
            throw new IllegalArgumentException("stop strings need a tokenizer");
        }
        this.prompt = prompt;
        this.params = params;
        this.sampler = new Sampler(params);
        this.stops = new StopStrings(params.stop());
        this.decoder = tokenizer == null ? null : tokenizer.streamDecoder(true);
    }

    /** Draws the next token from this sequence's fp32 logits [vocab]; {@link #accept} it next. */
    public int sample(Tensor logits) {
        return sampler.next(logits, seen());
    }

    /**
     * Adds the next token and returns the text it releases, possibly empty. A stop token ends the
     * sequence without text of its own; a stop string ends it and is cut from the text.
     */
    public String accept(int token) {
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
        return release(done ? text.length() : stops.safeLength(text.toString()));
    }

    /** Ends a sequence cut short (the context is full) and returns the text it still held back. */
    public String finish() {
        if (!done && decoder != null) {
            text.append(decoder.finish()); // flush held-back bytes
        }
        return release(text.length());
    }

    private String release(int upTo) {
        String delta = upTo > emitted ? text.substring(emitted, upTo) : "";
        emitted = Math.max(emitted, upTo);
        return delta;
    }

    public boolean done() {
        return done;
    }

    /** "stop" (a stop token or string) or "length" (max_tokens or the context), OpenAI's terms. */
    public String finishReason() {
        return finishReason;
    }

    public int lastToken() {
        return generated.get(generated.size() - 1);
    }

    /** Tokens generated so far, a final stop token included. */
    public int[] tokenIds() {
        return generated.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The text so far, without stop strings or special tokens; may include text not yet released. */
    public String text() {
        return text.toString();
    }

    public Completion completion() {
        return new Completion(prompt, tokenIds(), text.toString(), finishReason);
    }

    private int[] seen() {
        int[] all = Arrays.copyOf(prompt, prompt.length + generated.size());
        for (int i = 0; i < generated.size(); i++) {
            all[prompt.length + i] = generated.get(i);
        }
        return all;
    }
}
