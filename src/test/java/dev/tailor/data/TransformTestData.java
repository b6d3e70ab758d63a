package dev.tailor.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/** Data files for the split, dedupe and convert tests, written as compact JSON lines (as the transforms write them). */
public final class TransformTestData {
    private TransformTestData() {}

    /** n pseudo-random words determined by seed: texts of different seeds share almost no 3-grams. */
    public static String words(int seed, int n) {
        Random random = new Random(seed);
        return IntStream.range(0, n).mapToObj(i -> "w" + random.nextInt(1_000_000)).collect(Collectors.joining(" "));
    }

    /** A compact chat line: a user question and the assistant's answer. */
    public static String chat(String user, String answer) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("messages", List.of(Map.of("role", "user", "content", user), message("assistant", answer)));
        return Json.compact(record);
    }

    /** A message with "role" before "content" (Map.of has no order). */
    static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    public static Path write(Path file, List<String> lines) throws IOException {
        return Files.writeString(file, String.join("\n", lines) + "\n");
    }

    public static List<String> lines(Path file) throws IOException {
        return Files.readAllLines(file);
    }

    /** The user text of a chat line. */
    static String user(String line) {
        return parse(line).get("messages").get(0).get("content").asText();
    }

    /** The final answer of a chat line. */
    static String answer(String line) {
        JsonNode messages = parse(line).get("messages");
        return messages.get(messages.size() - 1).get("content").asText();
    }

    private static JsonNode parse(String line) {
        try {
            return Json.MAPPER.readTree(line);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The exact Jaccard similarity of two texts' word 3-gram sets, computed independently of NearDuplicates. */
    static double jaccard(String a, String b) {
        Set<String> x = grams(a);
        Set<String> y = grams(b);
        Set<String> both = new HashSet<>(x);
        both.retainAll(y);
        Set<String> either = new HashSet<>(x);
        either.addAll(y);
        return both.size() / (double) either.size();
    }

    private static Set<String> grams(String text) {
        List<String> w = new ArrayList<>(Arrays.asList(text.toLowerCase().split("\\W+")));
        Set<String> grams = new HashSet<>();
        for (int i = 0; i + 2 < w.size(); i++) {
            grams.add(w.get(i) + " " + w.get(i + 1) + " " + w.get(i + 2));
        }
        return grams;
    }
}
