package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The request log on real SQLite files: exact round trips, restarts, a full queue, feedback. */
class RequestLogTest {
    @TempDir
    Path dir;

    static LoggedRequest request(String id, String experiment, String variant) {
        return new LoggedRequest(id, Instant.parse("2026-11-20T09:15:30.123456Z"), "acme", experiment == null ? "support-v1" : experiment,
                "support-v1", experiment, variant, "user-7", "[{\"role\":\"user\",\"content\":\"Où est ma facture ? 🧾\"}]",
                "billing", 812.25, 95.5, 41, 3, LoggedRequest.Status.OK);
    }

    @Test
    void requestsAreWrittenAndReadBackExactlyAfterARestart() {
        Path file = dir.resolve("data/requests.db");
        LoggedRequest full = request("chatcmpl-1", "support-ab", "tuned");
        LoggedRequest sparse = new LoggedRequest("chatcmpl-2", Instant.ofEpochMilli(1_700_000_000_001L), null, "base", "base",
                null, null, null, "[]", "", 0.0, null, 0, 0, LoggedRequest.Status.CANCELLED);
        try (RequestLog log = RequestLog.open(file)) {
            assertTrue(log.log(full));
            assertTrue(log.log(sparse));
            log.flush();
            assertEquals(Optional.of(full), log.find("chatcmpl-1"));
            assertEquals(2, log.written());
        }
        assertEquals(Instant.parse("2026-11-20T09:15:30.123Z"), full.timestamp(), "kept to the millisecond, as stored");
        try (RequestLog reopened = RequestLog.open(file)) {
            assertEquals(Optional.of(full), reopened.find("chatcmpl-1"));
            assertEquals(Optional.of(sparse), reopened.find("chatcmpl-2"));
            assertEquals(Optional.empty(), reopened.find("chatcmpl-3"));
        }
    }

    @Test
    void closeWritesWhatIsQueuedAndLaterRecordsAreDropped() {
        Path file = dir.resolve("requests.db");
        RequestLog log = RequestLog.open(file, new RequestLog.Settings(1000, 7));
        for (int i = 0; i < 500; i++) {
            assertTrue(log.log(request("r" + i, "ab", i % 3 == 0 ? "b" : "a")));
        }
        log.close();
        assertEquals(500, log.written());
        assertFalse(log.log(request("late", "ab", "a")));
        assertEquals(1, log.dropped());
        try (RequestLog reopened = RequestLog.open(file)) {
            VariantStats a = reopened.variantStats("ab").get("a");
            VariantStats b = reopened.variantStats("ab").get("b");
            assertEquals(333, a.requests());
            assertEquals(167, b.requests());
            assertEquals(Optional.empty(), reopened.find("late"));
        }
    }

    /**
     * Another connection holds the database's write lock, so the writer, once it has taken a
     * record, cannot finish it: the queue fills and every further record is dropped and counted,
     * while log() keeps returning (the timeout only guards against a hang).
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFullQueueDropsAndCountsInsteadOfBlocking() throws Exception {
        Path file = dir.resolve("requests.db");
        try (RequestLog log = RequestLog.open(file, new RequestLog.Settings(2, 1));
             Connection lock = DriverManager.getConnection("jdbc:sqlite:" + file);
             Statement s = lock.createStatement()) {
            s.execute("BEGIN EXCLUSIVE");
            assertTrue(log.log(request("held", null, null)));
            while (log.queueDepth() > 0) {
                Thread.onSpinWait(); // until the writer holds "held" and waits for the lock
            }
            assertTrue(log.log(request("queued-1", null, null)));
            assertTrue(log.log(request("queued-2", null, null)));
            for (int i = 0; i < 5; i++) {
                assertFalse(log.log(request("dropped-" + i, null, null)));
            }
            assertEquals(5, log.dropped());
            assertEquals(2, log.queueDepth());
            assertEquals(0, log.written());
            s.execute("COMMIT");
            log.flush();
            assertEquals(3, log.written());
            assertTrue(log.find("queued-2").isPresent());
            assertEquals(Optional.empty(), log.find("dropped-0"));
        }
    }

    @Test
    void aRecordTheDatabaseRefusesCostsOnlyItself() {
        try (RequestLog log = RequestLog.open(dir.resolve("requests.db"), new RequestLog.Settings(100, 50))) {
            log.log(request("a", null, null));
            log.flush();
            log.log(request("b", null, null));
            log.log(request("a", null, null)); // duplicate id: the batch fails, then "b" alone succeeds
            log.log(request("c", null, null));
            log.flush();
            assertEquals(3, log.written());
            assertEquals(1, log.failed());
            assertTrue(log.lastError().orElseThrow().toLowerCase().contains("unique"), log.lastError().orElseThrow());
            assertTrue(log.find("c").isPresent());
        }
    }

    @Test
    void feedbackIsStoredReplacedAndCheckedAgainstTheLog() throws Exception {
        Path file = dir.resolve("requests.db");
        try (RequestLog log = RequestLog.open(file)) {
            log.log(request("r1", "support-ab", "tuned"));
            log.log(request("r2", null, null));
            log.feedback("r1", 0.25); // right after log(): feedback waits for the queue
            log.feedback("support-ab", new Feedback("r1", 4));
            log.feedback("r2", 1);
            TailorException unknown = assertThrows(TailorException.class, () -> log.feedback("nope", 1));
            assertEquals("feedback: response 'nope' is not in the request log; give the id of a response this server returned",
                    unknown.getMessage());
            TailorException other = assertThrows(TailorException.class, () -> log.feedback("other-ab", new Feedback("r1", 1)));
            assertEquals("feedback: response 'r1' was not served by experiment 'other-ab' but by 'support-ab'", other.getMessage());
            TailorException notInAny = assertThrows(TailorException.class, () -> log.feedback("support-ab", new Feedback("r2", 1)));
            assertEquals("feedback: response 'r2' was not served by experiment 'support-ab'", notInAny.getMessage());
            assertThrows(TailorException.class, () -> log.feedback("r1", Double.NaN));
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT response_id, score FROM feedback ORDER BY response_id")) {
            assertTrue(r.next());
            assertEquals("r1", r.getString(1));
            assertEquals(4.0, r.getDouble(2), "the later score replaces the earlier");
            assertTrue(r.next());
            assertEquals("r2", r.getString(1));
            assertFalse(r.next());
        }
    }

    @Test
    void theSchemaIsMigratedOnceAndReopeningKeepsIt() throws Exception {
        Path file = dir.resolve("requests.db");
        RequestLog.open(file).close();
        RequestLog.open(file).close();
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT version, success FROM flyway_schema_history WHERE version IS NOT NULL")) {
            assertTrue(r.next());
            assertEquals("1", r.getString(1));
            assertTrue(r.getBoolean(2));
            assertFalse(r.next());
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("PRAGMA journal_mode")) {
            assertEquals("wal", r.getString(1), "readers must not wait for the writer");
        }
    }

    @Test
    void aDatabaseThatCannotBeOpenedIsAOneLineError() {
        TailorException e = assertThrows(TailorException.class,
                () -> RequestLog.open("jdbc:nosuchdb://host/db?password=secret", RequestLog.Settings.DEFAULT));
        assertTrue(e.getMessage().startsWith("request log database jdbc:nosuchdb://host/db?...: "), e.getMessage());
        assertFalse(e.getMessage().contains("secret"));
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    @Test
    void feedbackBodiesInTheirTwoForms() throws Exception {
        assertEquals(new Feedback("r1", 4.5), Feedback.fromJson(dev.tailor.Json.MAPPER.readTree("{\"response_id\":\"r1\",\"score\":4.5}")));
        assertEquals(new Feedback("r1", 1), Feedback.fromJson(dev.tailor.Json.MAPPER.readTree("{\"response_id\":\"r1\",\"thumbs\":\"up\"}")));
        assertEquals(new Feedback("r1", 0), Feedback.fromJson(dev.tailor.Json.MAPPER.readTree("{\"response_id\":\"r1\",\"thumbs\":\"down\"}")));
        for (String bad : new String[] {"{\"score\":1}", "{\"response_id\":\"r1\"}", "{\"response_id\":\"r1\",\"score\":1,\"thumbs\":\"up\"}",
            "{\"response_id\":\"r1\",\"score\":\"high\"}", "{\"response_id\":\"r1\",\"thumbs\":\"sideways\"}", "[]"}) {
            TailorException e = assertThrows(TailorException.class, () -> Feedback.fromJson(dev.tailor.Json.MAPPER.readTree(bad)), bad);
            assertTrue(e.getMessage().startsWith("feedback: "), e.getMessage());
        }
    }
}
