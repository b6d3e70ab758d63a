package dev.tailor.serve;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Requests in flight, per caller identity (each API key on its own) and in all: a caller at its
 * limit is refused (429), and shutdown waits for the total to reach zero.
 */
final class ConcurrencyLimiter {
    private final Map<String, Integer> byCaller = new HashMap<>();
    private int total;

    /** Counts one more request of {@code identity}; false (and nothing counted) when it already has {@code limit}. */
    synchronized boolean tryAcquire(String identity, int limit) {
        int now = byCaller.getOrDefault(identity, 0);
        if (now >= limit) {
            return false;
        }
        byCaller.put(identity, now + 1);
        total++;
        return true;
    }

    synchronized void release(String identity) {
        int now = byCaller.getOrDefault(identity, 0);
        if (now <= 1) {
            byCaller.remove(identity);
        } else {
            byCaller.put(identity, now - 1);
        }
        total--;
        notifyAll();
    }

    synchronized int inFlight() {
        return total;
    }

    /** Waits until nothing is in flight or {@code timeout} has passed; true when nothing is. */
    synchronized boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (total > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return true;
    }
}
