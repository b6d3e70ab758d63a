package dev.tailor.model;

import org.bytedeco.pytorch.Tensor;

/**
 * Rows of a forward pass that attend together: {@code b} sequences of {@code t} tokens, from row
 * {@code first} of the pass's flattened rows, with their rotary tables [b, 1, t, head_dim], mask
 * [b, 1, t, S] and cache.
 */
record Segment(long first, long b, long t, Tensor cos, Tensor sin, Tensor allowed, LayerCache cache) {}
