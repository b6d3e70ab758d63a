package dev.tailor.model;

/**
 * One generated continuation: its token ids (including a final stop token, if any), its text
 * (without stop strings or special tokens), and why it ended: "stop" or "length" (OpenAI's terms).
 */
public record Completion(int[] promptTokenIds, int[] tokenIds, String text, String finishReason) {}
