package dev.tailor.serve;

import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Every served request, written to a database without ever holding up generation: {@link #log}
 * only offers the record to a bounded queue and returns; a background thread writes the queue in
 * batches, one transaction each. When the queue is full (the database fell behind) the record is
 * dropped and {@link #dropped()} counts it; a record the database refuses (say, a duplicate id)
 * is counted by {@link #failed()}. Feedback scores go to their own table.
 *
 * <p>The database is an SQLite file by default ({@link #open(Path)}) or any JDBC URL
 * ({@link #open(String, Settings)}), PostgreSQL included, with the password in the URL
 * ({@code jdbc:postgresql://host/db?user=tailor&password=...}); the tables are created and
 * migrated by Flyway from the same portable SQL on both.
 */
public final class RequestLog implements AutoCloseable {
    /** How long the writer waits for a record before checking whether it should stop. */
    private static final long IDLE_POLL_MS = 100;

    /**
     * @param queueCapacity records waiting for the writer before new ones are dropped
     * @param batchSize     records the writer inserts in one transaction at most
     */
    public record Settings(int queueCapacity, int batchSize) {
        public static final Settings DEFAULT = new Settings(10_000, 256);

        public Settings {
            if (queueCapacity < 1 || batchSize < 1) {
                throw new IllegalArgumentException("queue capacity and batch size are >= 1");
            }
        }
    }

    private final RequestLogStore store;
    private final ArrayBlockingQueue<LoggedRequest> queue;
    private final int batchSize;
    private final Thread writer;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong written = new AtomicLong();
    private volatile String lastError;

    /** Guards {@link #closing} and {@link #enqueued}, so the count matches the queue's order. */
    private final Object enqueueLock = new Object();
    private volatile boolean closing;
    private long enqueued;
    /** Guards {@link #processed}: records the writer has finished with (written or failed). */
    private final Object progressLock = new Object();
    private long processed;

    private RequestLog(RequestLogStore store, Settings settings) {
        this.store = store;
        this.queue = new ArrayBlockingQueue<>(settings.queueCapacity());
        this.batchSize = settings.batchSize();
        this.writer = new Thread(this::writeUntilClosed, "tailor-request-log");
        writer.setDaemon(true);
        writer.start();
    }

    /** The SQLite file {@code file}, created with its directories when missing. */
    public static RequestLog open(Path file) {
        return open(file, Settings.DEFAULT);
    }

    public static RequestLog open(Path file, Settings settings) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
        } catch (IOException e) {
            throw new TailorException(file + ": cannot create the request log's directory: " + e.getMessage(), e);
        }
        return open("jdbc:sqlite:" + file.toAbsolutePath(), settings);
    }

    /** Any JDBC URL: jdbc:sqlite:FILE or jdbc:postgresql://HOST/DB?user=...&password=... */
    public static RequestLog open(String jdbcUrl, Settings settings) {
        return new RequestLog(new RequestLogStore(jdbcUrl), settings);
    }

    /**
     * Queues the record for writing and returns at once: true when queued, false when dropped
     * because the queue is full or the log is closed.
     */
    public boolean log(LoggedRequest request) {
        synchronized (enqueueLock) {
            if (!closing && queue.offer(request)) {
                enqueued++;
                return true;
            }
        }
        dropped.incrementAndGet();
        return false;
    }

    /** Records dropped because the queue was full or the log closed (for /metrics). */
    public long dropped() {
        return dropped.get();
    }

    /** Records the database refused or could not take. */
    public long failed() {
        return failed.get();
    }

    /** Records in the database. */
    public long written() {
        return written.get();
    }

    /** Records waiting for the writer now. */
    public int queueDepth() {
        return queue.size();
    }

    /** The last database error of the writer, for /health; empty while every write succeeded. */
    public Optional<String> lastError() {
        return Optional.ofNullable(lastError);
    }

    /** Waits until every record queued before this call is written (or failed). */
    public void flush() {
        long target;
        synchronized (enqueueLock) {
            target = enqueued;
        }
        synchronized (progressLock) {
            while (processed < target && writer.isAlive()) {
                try {
                    progressLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** A written request; records still queued are not seen ({@link #flush} first). */
    public Optional<LoggedRequest> find(String id) {
        return store.find(id);
    }

    /**
     * Stores a score for a response any route served (a later score for the same response
     * replaces the earlier). Waits for the queue first, so that a response served a moment ago
     * can be rated; an id that is not in the log is refused with a TailorException.
     */
    public void feedback(String responseId, double score) {
        feedback(null, new Feedback(responseId, score));
    }

    /** {@link #feedback(String, double)} that also requires the response to come from {@code experiment}. */
    public void feedback(String experiment, Feedback feedback) {
        flush();
        store.feedback(experiment, feedback.responseId(), feedback.score(), Instant.now());
    }

    /** What the log holds about each variant of {@code experiment} that has requests (queued ones excluded). */
    public Map<String, VariantStats> variantStats(String experiment) {
        return store.variantStats(experiment);
    }

    /** Writes what is queued, then stops the writer; later {@link #log} calls drop their records. */
    @Override
    public void close() {
        synchronized (enqueueLock) {
            closing = true;
        }
        try {
            writer.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void writeUntilClosed() {
        Connection connection = null;
        List<LoggedRequest> batch = new ArrayList<>(batchSize);
        try {
            while (true) {
                boolean last = closing; // read before polling: once set, nothing more is queued
                LoggedRequest first = queue.poll(IDLE_POLL_MS, TimeUnit.MILLISECONDS);
                if (first == null) {
                    if (last) {
                        return;
                    }
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, batchSize - 1);
                connection = write(connection, batch);
                synchronized (progressLock) {
                    processed += batch.size();
                    progressLock.notifyAll();
                }
                batch.clear();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeQuietly(connection);
            synchronized (progressLock) {
                progressLock.notifyAll();
            }
        }
    }

    /** Writes the batch; returns the connection to use next (null after a failure: reconnect). */
    private Connection write(Connection connection, List<LoggedRequest> batch) {
        Connection c = connection;
        try {
            if (c == null) {
                c = store.connect();
            }
            store.insert(c, batch);
            written.addAndGet(batch.size());
            return c;
        } catch (SQLException | RuntimeException e) {
            closeQuietly(c);
        }
        // one bad record (a duplicate id) must not cost the others: retry them one by one
        for (LoggedRequest r : batch) {
            try (Connection single = store.connect()) {
                store.insert(single, List.of(r));
                written.incrementAndGet();
            } catch (SQLException | RuntimeException e) {
                failed.incrementAndGet();
                lastError = RequestLogStore.firstLine(e.getMessage());
            }
        }
        return null;
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                // the connection is being discarded either way
            }
        }
    }
}
