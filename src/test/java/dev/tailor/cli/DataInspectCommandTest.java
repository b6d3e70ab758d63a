package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.data.DemoDataset;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The label viewer shows what training trains: the answer and its end-of-turn token, nothing else. */
class DataInspectCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static DemoDataset.Files data;

    @BeforeAll
    static void fixtures() {
        model = tmp.resolve("tiny");
        assertEquals(0, CliRun.of("init-model", model.toString(), "--preset", "tiny").exitCode());
        data = DemoDataset.write(tmp.resolve("data"), 9, 8, 2, 2);
    }

    @Test
    void trainedTokensAreExactlyTheAnswerAndItsEndOfTurn() throws Exception {
        JsonNode firstLine = Json.MAPPER.readTree(Files.readAllLines(data.train()).get(3));
        String answer = firstLine.at("/messages/2/content").asText();
        CliRun r = CliRun.of("data", "inspect", data.train().toString(), "--model", model.toString(), "--index", "3", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode out = Json.MAPPER.readTree(r.out());
        assertEquals(4, out.get("line").asInt());
        StringBuilder trained = new StringBuilder();
        StringBuilder all = new StringBuilder();
        for (JsonNode token : out.get("tokens")) {
            all.append(token.get("text").asText());
            if (token.get("trained").asBoolean()) {
                trained.append(token.get("text").asText());
            }
        }
        assertEquals(answer + "<|im_end|>\n", trained.toString());
        assertTrue(all.toString().contains(firstLine.at("/messages/1/content").asText()), "the prompt is shown too");
        CliRun table = CliRun.of("data", "inspect", data.train().toString(), "--model", model.toString(), "--index", "3");
        assertTrue(table.out().contains("[[" + answer + "<|im_end|>\n]]"), table.out());
    }

    @Test
    void anIndexOutsideTheFileIsOneLine() {
        CliRun r = CliRun.of("data", "inspect", data.train().toString(), "--model", model.toString(), "--index", "8");
        assertEquals(1, r.exitCode());
        assertTrue(r.errorLine().contains("has 8 examples"), r.err());
    }
}
