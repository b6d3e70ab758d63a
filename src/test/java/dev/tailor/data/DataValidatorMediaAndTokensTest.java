package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import dev.tailor.model.Tokenizer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Vision examples with real images, and token counts with a real (generated) tokenizer and chat template. */
class DataValidatorMediaAndTokensTest {
    @TempDir
    static Path modelDir;

    @TempDir
    Path dir;

    static Tokenizer tokenizer;
    static ChatEncoder encoder;

    @BeforeAll
    static void tokenizer() {
        ByteLevelBpeTokenizerWriter.write(modelDir, 512, 32768, ChatTemplate.CHATML_SOURCE);
        tokenizer = Tokenizer.fromModelDir(modelDir);
        encoder = new ChatEncoder(ChatTemplate.fromModelDir(modelDir), tokenizer);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    static byte[] png() throws IOException {
        BufferedImage image = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);
        image.setRGB(1, 1, 0xFF0000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }

    static String imageExample(String url) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"What is this?\"},"
                + " {\"type\": \"image_url\", \"image_url\": {\"url\": \"" + url + "\"}}]}, {\"role\": \"assistant\", \"content\": \"A dot.\"}]}\n";
    }

    ValidationReport validate(String content) throws IOException {
        return new DataValidator(null, null, 512).validate(Files.writeString(dir.resolve("vision.jsonl"), content));
    }

    @Test
    void realImagesAsDataUrlsAndFilesDecode() throws IOException {
        Files.createDirectories(dir.resolve("img"));
        Files.write(dir.resolve("img/dot.png"), png());
        String dataUrl = "data:image/png;base64," + Base64.getEncoder().encodeToString(png());

        ValidationReport report = validate(imageExample(dataUrl) + imageExample("img/dot.png"));

        assertEquals(List.of(), report.errors());
        assertEquals("vision", report.format());
        assertEquals(2, report.stats().get("images"));
    }

    @Test
    void corruptTruncatedAndOversizedImagesAreErrors() throws IOException {
        byte[] corrupt = png();
        Arrays.fill(corrupt, 8, corrupt.length, (byte) 0x5A); // PNG signature kept, chunks destroyed
        Files.write(dir.resolve("corrupt.png"), corrupt);
        Files.write(dir.resolve("huge.png"), new byte[(int) ImageCheck.MAX_BYTES + 1]);
        String notBase64 = "data:image/png;base64,@@@@";

        ValidationReport report = validate(imageExample("corrupt.png") + imageExample("huge.png") + imageExample(notBase64));

        assertEquals(List.of("image_undecodable", "image_too_large", "image_undecodable"), report.errors().stream().map(DataIssue::code).toList());
        assertEquals(List.of(1, 2, 3), report.errors().stream().map(DataIssue::line).toList());
    }

    @Test
    void remoteUrlsAndUndecodableWebpAreWarnings() throws IOException {
        byte[] webp = new byte[32];
        System.arraycopy("RIFF".getBytes(), 0, webp, 0, 4);
        System.arraycopy("WEBPVP8 ".getBytes(), 0, webp, 8, 8);
        Files.write(dir.resolve("a.webp"), webp);

        ValidationReport report = validate(imageExample("https://example.com/cat.png") + imageExample("a.webp"));

        assertEquals(List.of(), report.errors());
        assertEquals(List.of(1, 2), report.warnings().stream().filter(w -> w.code().startsWith("image_")).map(DataIssue::line).toList());
        assertEquals(Map.of(ImageCheck.NOT_FETCHABLE, 1, ImageCheck.WEBP_NOT_DECODED, 1, "few_examples", 1, "missing_system_message", 1),
                report.stats().get("warnings_by_code"));
    }

    @Test
    void tokenCountsAreWhatTrainingEncodes() throws IOException {
        String content = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello there\"}]}\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "tell me a story ".repeat(10) + "\"}, {\"role\": \"assistant\", \"content\": \"Once upon a time\"}]}\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"" + "and then ".repeat(20) + "\"}]}\n";
        Path file = Files.writeString(dir.resolve("chat.jsonl"), content);
        int[] lengths = Dataset.load(file).examples().stream().mapToInt(e -> encoder.encode(e, Integer.MAX_VALUE).length()).toArray();
        int maxSeqLen = lengths[0] + 1; // keeps example 1 whole, cuts examples 2 and 3
        TokenizedExample third = encoder.encode(Dataset.load(file).examples().get(2), Integer.MAX_VALUE);
        int thirdTrainedCut = (int) Arrays.stream(third.labels(), maxSeqLen, third.length()).filter(l -> l != ChatEncoder.IGNORE).count();

        ValidationReport report = new DataValidator(null, encoder, maxSeqLen).validate(file);

        int[] sorted = lengths.clone();
        Arrays.sort(sorted);
        assertEquals(Map.of("min", sorted[0], "median", sorted[1], "p95", sorted[2], "max", sorted[2]), report.stats().get("tokens_per_example"));
        assertTrue(lengths[1] > maxSeqLen && lengths[2] > maxSeqLen, Arrays.toString(lengths));
        assertEquals(2, report.stats().get("over_max_seq_len"));
        assertArrayEquals(lengths, report.tokenLengths());
        assertTrue(thirdTrainedCut > 0);
        assertEquals(1, report.stats().get("answers_cut_short"), "example 3 keeps part of its answer; example 2 loses all of it");
        DataIssue truncated = report.warnings().stream().filter(w -> w.code().equals("too_long")).findFirst().orElseThrow();
        assertEquals(3, truncated.line());
        assertEquals("the example has " + lengths[2] + " tokens, over --max-seq-len " + maxSeqLen + ": truncation removes the last "
                + (lengths[2] - maxSeqLen) + " tokens, " + thirdTrainedCut + " of them trained (assistant) tokens; shorten it or raise --max-seq-len",
                truncated.message());
        DataIssue cutAway = report.warnings().stream().filter(w -> w.code().equals("assistant_truncated")).findFirst().orElseThrow();
        assertEquals(2, cutAway.line(), "the story prompt fills the budget, so its answer is cut off entirely");
        assertArrayEquals(new int[] {lengths[1]}, new int[] {Integer.parseInt(cutAway.message().replaceAll("^the example has (\\d+) tokens.*", "$1"))});
    }

    @Test
    void preferencePairsCountTheirLongerSide() throws IOException {
        Path file = Files.writeString(dir.resolve("pairs.jsonl"), "{\"prompt\": \"Summarize.\", \"chosen\": \"Short.\", \"rejected\": \""
                + "long and rambling ".repeat(5) + "\"}\n");
        int rejected = encoder.encode(Example.completion(1, "Summarize.", "long and rambling ".repeat(5)), Integer.MAX_VALUE).length();

        ValidationReport report = new DataValidator(null, encoder, 512).validate(file);

        assertEquals(Map.of("min", rejected, "median", rejected, "p95", rejected, "max", rejected), report.stats().get("tokens_per_example"));
    }
}
