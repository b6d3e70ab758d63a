package dev.tailor.serve;

/**
 * A snapshot of the engine for health checks and metrics.
 *
 * @param running sequences in the decoding batch
 * @param queued accepted requests not decoding yet (waiting, or being prefilled, or scoring)
 * @param loadedAdapters adapters resident in memory
 * @param adapterLoads adapter loads so far, registrations included (reloads after LRU eviction count)
 * @param decodeSteps decoding steps so far
 * @param decodedTokens tokens produced by those steps: divided by decodeSteps, the mean batch size
 */
public record EngineStats(int running, int queued, int loadedAdapters, long adapterLoads, long decodeSteps, long decodedTokens) {}
