package dev.tailor.serve;

import dev.tailor.TailorException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The request log's tables (migrations in resources/db/requestlog) behind plain JDBC. The SQL is
 * the portable subset that SQLite and PostgreSQL share.
 */
final class RequestLogStore {
    private static final String COLUMNS = "id, created_at, tenant, model, target, experiment, variant, user_id, prompt,"
            + " response, latency_ms, ttft_ms, prompt_tokens, completion_tokens, status";
    /** Long enough for the writer to outwait a reader's or a feedback write's lock on SQLite. */
    private static final int SQLITE_BUSY_TIMEOUT_MS = 30_000;

    private final String url;

    /** Connects to {@code url} and brings its schema to the latest version. */
    RequestLogStore(String url) {
        this.url = url;
        try {
            Flyway.configure().dataSource(url, null, null).locations("classpath:db/requestlog").load().migrate();
            connect().close(); // switches a new SQLite file to WAL before the first reader or writer
        } catch (SQLException e) {
            throw new TailorException("request log database " + redacted(url) + ": cannot connect: " + firstLine(e.getMessage()), e);
        } catch (FlywayException e) {
            throw new TailorException("request log database " + redacted(url) + ": cannot create or migrate its tables: "
                    + firstLine(e.getMessage()), e);
        }
    }

    Connection connect() throws SQLException {
        Connection c = DriverManager.getConnection(url);
        if (url.startsWith("jdbc:sqlite:")) {
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA busy_timeout = " + SQLITE_BUSY_TIMEOUT_MS);
                // readers (results, feedback checks) then never wait for the writer, nor it for them
                s.execute("PRAGMA journal_mode = WAL");
                // with WAL this loses nothing when the process dies, only the last commits on a power cut
                s.execute("PRAGMA synchronous = NORMAL");
            }
        }
        return c;
    }

    /** Inserts the requests in one transaction: all or none. */
    void insert(Connection c, List<LoggedRequest> batch) throws SQLException {
        c.setAutoCommit(false);
        try (PreparedStatement s = c.prepareStatement("INSERT INTO requests (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            for (LoggedRequest r : batch) {
                s.setString(1, r.id());
                s.setLong(2, r.timestamp().toEpochMilli());
                s.setString(3, r.tenant());
                s.setString(4, r.model());
                s.setString(5, r.target());
                s.setString(6, r.experiment());
                s.setString(7, r.variant());
                s.setString(8, r.user());
                s.setString(9, r.prompt());
                s.setString(10, r.response());
                s.setDouble(11, r.latencyMs());
                if (r.ttftMs() == null) {
                    s.setNull(12, Types.DOUBLE);
                } else {
                    s.setDouble(12, r.ttftMs());
                }
                s.setInt(13, r.promptTokens());
                s.setInt(14, r.completionTokens());
                s.setString(15, r.status().dbValue());
                s.addBatch();
            }
            s.executeBatch();
            c.commit();
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException broken) {
                e.addSuppressed(broken); // a dead connection: the caller reconnects
            }
            throw e;
        }
    }

    Optional<LoggedRequest> find(String id) {
        try (Connection c = connect();
             PreparedStatement s = c.prepareStatement("SELECT " + COLUMNS + " FROM requests WHERE id = ?")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Optional.of(request(r)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("read request " + id, e);
        }
    }

    /**
     * Stores (or replaces) the score of a logged response. {@code experiment}, when not null, must
     * be the experiment that served it.
     */
    void feedback(String experiment, String responseId, double score, Instant now) {
        try (Connection c = connect()) {
            try (PreparedStatement s = c.prepareStatement("SELECT experiment FROM requests WHERE id = ?")) {
                s.setString(1, responseId);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) {
                        throw new TailorException("feedback: response '" + responseId
                                + "' is not in the request log; give the id of a response this server returned");
                    }
                    String servedBy = r.getString(1);
                    if (experiment != null && !experiment.equals(servedBy)) {
                        throw new TailorException("feedback: response '" + responseId + "' was not served by experiment '"
                                + experiment + "'" + (servedBy == null ? "" : " but by '" + servedBy + "'"));
                    }
                }
            }
            try (PreparedStatement s = c.prepareStatement("INSERT INTO feedback (response_id, score, created_at) VALUES (?, ?, ?)"
                    + " ON CONFLICT (response_id) DO UPDATE SET score = excluded.score, created_at = excluded.created_at")) {
                s.setString(1, responseId);
                s.setDouble(2, score);
                s.setLong(3, now.toEpochMilli());
                s.executeUpdate();
            }
        } catch (SQLException e) {
            throw failure("store feedback for " + responseId, e);
        }
    }

    /** Per variant of {@code experiment} that has logged requests: counts, means and feedback scores. */
    Map<String, VariantStats> variantStats(String experiment) {
        Map<String, VariantStats> out = new LinkedHashMap<>();
        try (Connection c = connect()) {
            try (PreparedStatement s = c.prepareStatement("SELECT variant, COUNT(*),"
                    + " SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END),"
                    + " AVG(CASE WHEN status = 'ok' THEN latency_ms END),"
                    + " AVG(CASE WHEN status = 'ok' THEN ttft_ms END),"
                    + " AVG(CASE WHEN status = 'ok' THEN prompt_tokens END),"
                    + " AVG(CASE WHEN status = 'ok' THEN completion_tokens END)"
                    + " FROM requests WHERE experiment = ? GROUP BY variant ORDER BY variant")) {
                s.setString(1, experiment);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        out.put(r.getString(1), new VariantStats(r.getString(1), r.getLong(2), r.getLong(3),
                                nullableDouble(r, 4), nullableDouble(r, 5), nullableDouble(r, 6), nullableDouble(r, 7),
                                SampleStats.EMPTY));
                    }
                }
            }
            Map<String, SampleStats.Accumulator> scores = new HashMap<>();
            try (PreparedStatement s = c.prepareStatement("SELECT r.variant, f.score FROM feedback f"
                    + " JOIN requests r ON r.id = f.response_id WHERE r.experiment = ? ORDER BY r.created_at, r.id")) {
                s.setString(1, experiment);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        scores.computeIfAbsent(r.getString(1), v -> new SampleStats.Accumulator()).add(r.getDouble(2));
                    }
                }
            }
            scores.forEach((variant, acc) -> out.computeIfPresent(variant, (v, stats) -> stats.withFeedback(acc.stats())));
            return out;
        } catch (SQLException e) {
            throw failure("read the results of experiment " + experiment, e);
        }
    }

    private static LoggedRequest request(ResultSet r) throws SQLException {
        return new LoggedRequest(r.getString(1), Instant.ofEpochMilli(r.getLong(2)), r.getString(3), r.getString(4),
                r.getString(5), r.getString(6), r.getString(7), r.getString(8), r.getString(9), r.getString(10),
                r.getDouble(11), nullableDouble(r, 12), r.getInt(13), r.getInt(14),
                LoggedRequest.Status.ofDbValue(r.getString(15)));
    }

    private static Double nullableDouble(ResultSet r, int column) throws SQLException {
        double value = r.getDouble(column);
        return r.wasNull() ? null : value;
    }

    /** A database that fails at run time is the server's problem (500), not the client's. */
    private IllegalStateException failure(String what, SQLException e) {
        return new IllegalStateException("request log database " + redacted(url) + ": cannot " + what + ": " + firstLine(e.getMessage()), e);
    }

    /** The URL without its query, where PostgreSQL URLs carry the password. */
    static String redacted(String url) {
        int query = url.indexOf('?');
        return query < 0 ? url : url.substring(0, query) + "?...";
    }

    static String firstLine(String message) {
        return message == null ? "(no message)" : message.lines().findFirst().orElse("");
    }
}
