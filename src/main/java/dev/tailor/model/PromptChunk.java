package dev.tailor.model;

/**
 * The next part of a prompt that rides along a decoding step ({@link Model#decode(SlotKvCache, int[], java.util.List, PromptChunk)}):
 * its tokens go into {@code slot} of the cache after what the slot holds, with {@code adapter} (null = the base).
 */
public record PromptChunk(int slot, int[] tokens, Adapter adapter) {}
