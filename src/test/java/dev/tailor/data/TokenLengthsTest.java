package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import dev.tailor.model.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token lengths as training encodes them, counted against the template and tokenizer directly. */
class TokenLengthsTest {
    @TempDir
    static Path modelDir;

    @TempDir
    Path dir;

    static Tokenizer tokenizer;
    static ChatTemplate template;
    static ChatEncoder encoder;

    @BeforeAll
    static void tokenizer() {
        ByteLevelBpeTokenizerWriter.write(modelDir, 512, 32768, ChatTemplate.CHATML_SOURCE);
        tokenizer = Tokenizer.fromModelDir(modelDir);
        template = ChatTemplate.fromModelDir(modelDir);
        encoder = new ChatEncoder(template, tokenizer);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    static String chat(String user, String assistant) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"" + user + "\"}, {\"role\": \"assistant\", \"content\": \""
                + assistant + "\"}]}";
    }

    /** Render the whole conversation and tokenize it: what the encoder's ids must amount to. */
    static int rendered(String user, String assistant) {
        String text = template.render(List.of(Map.of("role", "user", "content", user), Map.of("role", "assistant", "content", assistant)),
                null, false, null);
        return (tokenizer.addBosToken() ? 1 : 0) + tokenizer.encode(text).length;
    }

    @Test
    void chatLengthsAreTheWholeRenderingTokenizedUntruncated() throws IOException {
        String story = "a long story ".repeat(30);
        Path file = Files.writeString(dir.resolve("chat.jsonl"),
                chat("Hi", "Hello") + "\n\n" + chat(story, "ok") + "\n" + chat("What is 2+2?", "4") + "\n");

        TokenLengths t = TokenLengths.read(file, encoder, 60, 10, 1);

        assertEquals(DataFormat.CHAT, t.format());
        assertEquals(3, t.perExample().size());
        assertArrayEquals(new int[] {rendered("Hi", "Hello")}, t.perExample().get(0));
        assertArrayEquals(new int[] {rendered(story, "ok")}, t.perExample().get(1));
        assertTrue(t.perExample().get(1)[0] > 100, "not truncated to max_seq_len");
        assertArrayEquals(new int[] {rendered("What is 2+2?", "4")}, t.perExample().get(2));
        // the story's answer lies beyond 60 tokens: training skips it, so the timing sample leaves it out
        assertEquals(1, t.skippedSequences());
        assertEquals(60, t.skippedTokens());
        assertEquals(Set.of(1, 4), t.sample().stream().map(TokenizedExample::line).collect(Collectors.toSet()));
        for (TokenizedExample s : t.sample()) {
            assertTrue(s.length() <= 60 && s.trainedTokens() > 0, s.toString());
        }
    }

    @Test
    void aPreferencePairHasBothSequences() throws IOException {
        Path file = Files.writeString(dir.resolve("dpo.jsonl"), "{\"prompt\": [{\"role\": \"user\", \"content\": \"Capital of France?\"}],"
                + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"Paris.\"}],"
                + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"I am not sure, maybe Lyon or Marseille.\"}]}\n");

        TokenLengths t = TokenLengths.read(file, encoder, 512, 10, 1);

        assertEquals(DataFormat.PREFERENCE, t.format());
        assertArrayEquals(new int[] {rendered("Capital of France?", "Paris."),
                rendered("Capital of France?", "I am not sure, maybe Lyon or Marseille.")}, t.perExample().get(0));
        assertEquals(2, t.sample().size());
        assertEquals(0, t.skippedSequences());
    }

    @Test
    void theSampleIsBoundedSeededAndUniform() throws IOException {
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            lines.append(chat("question " + i, "answer " + i)).append('\n');
        }
        Path file = Files.writeString(dir.resolve("many.jsonl"), lines);

        List<Integer> first = TokenLengths.read(file, encoder, 512, 6, 7).sample().stream().map(TokenizedExample::line).toList();
        List<Integer> again = TokenLengths.read(file, encoder, 512, 6, 7).sample().stream().map(TokenizedExample::line).toList();
        List<Integer> other = TokenLengths.read(file, encoder, 512, 6, 8).sample().stream().map(TokenizedExample::line).toList();

        assertEquals(6, first.size());
        assertEquals(6, Set.copyOf(first).size());
        assertEquals(first, again);
        assertNotEquals(first, other);
        assertTrue(first.stream().anyMatch(line -> line > 6), "later lines replace earlier ones: " + first);
        assertEquals(0, TokenLengths.read(file, encoder, 512, 0, 7).sample().size());
    }

    @Test
    void theFirstProblemNamesItsLineAndPointsToValidate() throws IOException {
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), chat("Hi", "Hello") + "\n{\"messages\": [{\"role\": \"human\", \"content\": \"x\"}]}\n");
        Path rft = Files.writeString(dir.resolve("rft.jsonl"), "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}], \"answer\": \"4\"}\n");
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "\n");

        String e = assertThrows(TailorException.class, () -> TokenLengths.read(bad, encoder, 512, 1, 1)).getMessage();
        assertTrue(e.startsWith(bad + ":2: ") && e.endsWith("run `tailor data validate` on the file to see every problem"), e);
        String r = assertThrows(TailorException.class, () -> TokenLengths.read(rft, encoder, 512, 1, 1)).getMessage();
        assertTrue(r.startsWith(rft + ":1: an RFT example"), r);
        String none = assertThrows(TailorException.class, () -> TokenLengths.read(empty, encoder, 512, 1, 1)).getMessage();
        assertTrue(none.contains("no examples"), none);
    }
}
