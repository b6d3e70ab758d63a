package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportHtmlTest {
    private static final String SCRIPT = "<script>alert(1)</script>";

    @TempDir
    Path dir;

    /** A classification-style set with markup in a system prompt, a question and an answer; the validation file repeats the question. */
    DataReport report() throws IOException {
        String hostile = LeakageTest.chat("Classify.", SCRIPT + " route this ticket & reply", SCRIPT);
        String train = IntStream.range(0, 40).mapToObj(i -> LeakageTest.chat(i == 3 ? SCRIPT : "Classify.", DataValidatorTest.words(i, 12),
                i % 2 == 0 ? "billing" : "shipping")).collect(Collectors.joining()) + hostile;
        Path trainFile = Files.writeString(dir.resolve("train.jsonl"), train);
        Path validationFile = Files.writeString(dir.resolve("valid.jsonl"), hostile + LeakageTest.chat("Classify.", "a new ticket", "billing"));
        return DataReport.build(trainFile, validationFile, null, 512);
    }

    @Test
    void hasEverySectionAndChartsThatDecodeAsPng() throws IOException {
        String html = ReportHtml.render(report());

        for (String section : List.of("id=\"checklist\"", "id=\"lengths\"", "id=\"answers\"", "id=\"leakage\"", "Errors and warnings")) {
            assertTrue(html.contains(section), section);
        }
        assertFalse(html.contains("id=\"estimate\""), "no estimate attached");
        List<BufferedImage> images = images(html);
        assertEquals(3, images.size(), "a length histogram per file and the answer classes");
        for (BufferedImage image : images) {
            assertEquals(List.of(ReportCharts.WIDTH, ReportCharts.HEIGHT), List.of(image.getWidth(), image.getHeight()));
        }
        assertBalanced(html);
        assertFalse(html.contains("http"), "nothing is fetched");
    }

    @Test
    void escapesEveryStringFromTheData() throws IOException {
        DataReport report = report();
        String html = ReportHtml.render(report);

        assertFalse(html.toLowerCase(Locale.ROOT).contains("<script"), "raw markup from the data");
        assertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; route this ticket &amp; reply"), "the leaked prompt, escaped");
        assertTrue(html.contains("<td class=\"prompt\">&lt;script&gt;alert(1)&lt;/script&gt;</td>"), "the answer class, escaped");
        assertTrue(report.leakage().exact() == 1 && report.checklist().stream().anyMatch(r -> r.item().equals("balance")
                && r.evidence().stream().anyMatch(e -> e.contains(SCRIPT))), "the data did reach the report");
        assertEquals("&lt;a href=&quot;x&quot;&gt;&amp;&#39;", ReportHtml.escape("<a href=\"x\">&'"));
    }

    @Test
    void theEstimateIsAKeyValueTable() throws IOException {
        Map<String, Object> price = new LinkedHashMap<>();
        price.put("per_1k_tokens", 0.008);
        price.put("currency", "<USD>");
        Map<String, Object> estimate = new LinkedHashMap<>();
        estimate.put("billed_tokens", 123456);
        estimate.put("epochs", List.of(3, 4));
        estimate.put("price", price);
        estimate.put("prices", List.of(Map.of("total", 0.1 * 3)));
        estimate.put("throughput", null);
        DataReport report = report().withEstimate(estimate);

        String html = ReportHtml.render(report);

        assertTrue(html.contains("<h2 id=\"estimate\">Cost estimate</h2>\n<table>\n<tr><th>billed tokens</th><td>123456</td></tr>\n"
                + "<tr><th>epochs</th><td>3, 4</td></tr>\n<tr><th>price</th><td><table>\n<tr><th>per 1k tokens</th><td>0.008</td></tr>\n"
                + "<tr><th>currency</th><td>&lt;USD&gt;</td></tr>\n</table>\n</td></tr>\n<tr><th>prices</th><td><table>\n"
                + "<tr><th>total</th><td>0.3</td></tr>\n</table>\n</td></tr>\n<tr><th>throughput</th><td>n/a</td></tr>\n</table>\n"), html);
        assertTrue(report.summary("r.html").contains("\nestimate:\n  billed tokens: 123456\n  epochs: 3; 4\n"
                + "  price: per_1k_tokens 0.008, currency <USD>\n  prices: total 0.3\n  throughput: n/a\nreport: r.html\n"), report.summary("r.html"));
        assertEquals(estimate, report.toJson().get("estimate"));
        assertBalanced(html);
    }

    static List<BufferedImage> images(String html) throws IOException {
        List<BufferedImage> images = new ArrayList<>();
        Matcher m = Pattern.compile("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"").matcher(html);
        while (m.find()) {
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(m.group(1))));
            assertNotNull(image, "not a decodable PNG");
            images.add(image);
        }
        return images;
    }

    /** Every element but the void ones is closed, in order: well-formed enough for any browser. */
    static void assertBalanced(String html) {
        Set<String> voids = Set.of("meta", "br", "img", "!doctype");
        Deque<String> open = new ArrayDeque<>();
        Matcher m = Pattern.compile("<(/?)(!?[a-zA-Z0-9]+)[^<>]*>").matcher(html);
        while (m.find()) {
            String tag = m.group(2).toLowerCase(Locale.ROOT);
            if (voids.contains(tag)) {
                continue;
            }
            if (m.group(1).isEmpty()) {
                open.push(tag);
            } else {
                assertEquals(open.isEmpty() ? null : open.peek(), tag, "closing tag at " + m.start());
                open.pop();
            }
        }
        assertTrue(open.isEmpty(), "unclosed: " + open);
        assertEquals(html.chars().filter(c -> c == '<').count(), html.chars().filter(c -> c == '>').count(), "a stray < or >");
    }
}
