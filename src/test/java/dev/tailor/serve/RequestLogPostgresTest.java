package dev.tailor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.tailor.TailorException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The request log on PostgreSQL, run only when TAILOR_TEST_POSTGRES_URL names a database
 * (e.g. jdbc:postgresql://localhost:5432/tailor?user=postgres): the same migrations and queries as
 * on SQLite, each run in a fresh schema that is dropped afterwards.
 */
@EnabledIfEnvironmentVariable(named = "TAILOR_TEST_POSTGRES_URL", matches = "jdbc:postgresql:.+")
class RequestLogPostgresTest {
    private final String server = System.getenv("TAILOR_TEST_POSTGRES_URL");
    private final String schema = "tailor_test_" + Long.toUnsignedString(System.nanoTime(), 36);
    private String url;

    @BeforeEach
    void createSchema() throws Exception {
        execute("CREATE SCHEMA " + schema);
        url = server + (server.contains("?") ? "&" : "?") + "currentSchema=" + schema;
    }

    @AfterEach
    void dropSchema() throws Exception {
        execute("DROP SCHEMA " + schema + " CASCADE");
    }

    private void execute(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(server); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    @Test
    void requestsFeedbackAndResultsSurviveARestart() {
        LoggedRequest full = RequestLogTest.request("chatcmpl-1", "ab", "a");
        LoggedRequest sparse = new LoggedRequest("chatcmpl-2", Instant.ofEpochMilli(1_700_000_000_001L), null, "ab", "base",
                "ab", "b", null, "[]", "", 0.0, null, 0, 0, LoggedRequest.Status.ERROR);
        Experiment e = Experiment.parse("name: ab\nvariants: [{name: a, target: base, weight: 1}, {name: b, target: base, weight: 1}]", "test");
        Map<String, Object> before;
        try (RequestLog log = RequestLog.open(url, RequestLog.Settings.DEFAULT)) {
            log.log(full);
            log.log(sparse);
            for (int i = 0; i < 4; i++) {
                log.log(RequestLogTest.request("a" + i, "ab", "a"));
                log.log(RequestLogTest.request("b" + i, "ab", "b"));
            }
            for (int i = 0; i < 4; i++) {
                log.feedback("ab", new Feedback("a" + i, i));
                log.feedback("b" + i, 2 * i + 1);
            }
            log.feedback("a0", 0.5);
            assertThrows(TailorException.class, () -> log.feedback("nope", 1));
            assertThrows(TailorException.class, () -> log.feedback("ab", new Feedback("missing", 1)));
            assertEquals(Optional.of(full), log.find("chatcmpl-1"));
            before = ExperimentResults.compute(e, log, Instant.EPOCH).toJson();
        }
        try (RequestLog restarted = RequestLog.open(url, RequestLog.Settings.DEFAULT)) {
            assertEquals(Optional.of(sparse), restarted.find("chatcmpl-2"));
            assertEquals(before, ExperimentResults.compute(e, restarted, Instant.EPOCH).toJson());
            VariantStats b = restarted.variantStats("ab").get("b");
            assertEquals(5, b.requests());
            assertEquals(1, b.errors());
            assertEquals(4, b.feedback().count());
            assertEquals(4.0, b.feedback().mean(), 1e-12); // (1 + 3 + 5 + 7) / 4
            assertEquals(1.625, restarted.variantStats("ab").get("a").feedback().mean(), 1e-12); // (0.5 + 1 + 2 + 3) / 4
        }
    }
}
