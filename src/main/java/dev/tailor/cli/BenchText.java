package dev.tailor.cli;

import dev.tailor.Json;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Text from common English words for generated benchmark data (no download, realistic token counts). */
final class BenchText {
    static final String[] WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or one had "
            + "by word but not what all were we when your can said there use an each which she do how their if will up other about out many "
            + "then them these so some her would make like him into time has look two more write go see number no way could people my than "
            + "first water been call who oil its now find long down day did get come made may part order account payment delivery").split(" ");

    private BenchText() {}

    /** n (at least one) random common words separated by spaces. */
    static String words(SplittableRandom random, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.max(1, n); i++) {
            s.append(i == 0 ? "" : " ").append(WORDS[random.nextInt(WORDS.length)]);
        }
        return s.toString();
    }

    /**
     * One chat example as a JSONL line: 30-500 tokens, a third each for the user's and the assistant's
     * message, from common words. Lengths are log-uniform: right-skewed like real chat data (many short
     * exchanges, a few long ones).
     *
     * @param system the system message, or null for none
     */
    static String chatLine(SplittableRandom random, String system) {
        int tokens = (int) Math.round(30 * Math.pow(500 / 30.0, random.nextDouble()));
        List<Map<String, Object>> messages = new ArrayList<>();
        if (system != null) {
            messages.add(message("system", system));
        }
        messages.add(message("user", words(random, tokens / 3)));
        messages.add(message("assistant", words(random, tokens / 3)));
        return Json.compact(Map.of("messages", messages));
    }

    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }
}
