package dev.tailor.data;

import dev.tailor.AtomicFiles;
import dev.tailor.Json;
import dev.tailor.model.ByteLevelBpeTokenizerWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The demo's task: route a customer-support ticket to one team and answer with the team's name
 * only, the kind of narrow, format-bound behaviour the guide recommends fine-tuning for. Tickets
 * are composed from issue phrases, openings and closings; the held-out sets contain only tickets
 * (whole texts) that the training set does not, so a correct answer there is generalisation to
 * new wording of known issues, not recall.
 */
public final class DemoDataset {
    public static final String SYSTEM = "Route the support ticket to one team: billing, technical, account or shipping. "
            + "Answer with the team name only.";

    private static final Map<String, List<String>> ISSUES = new LinkedHashMap<>();

    static {
        ISSUES.put("billing", List.of("I was charged twice this month", "my invoice shows the wrong amount",
                "I want a refund for my last payment", "my card was declined at checkout", "the price on my bill went up",
                "I need a copy of my receipt", "you billed me after I cancelled", "the discount was not applied to my order total",
                "there is a strange fee on my statement", "I paid but the payment shows as pending"));
        ISSUES.put("technical", List.of("the app crashes when I open it", "the website shows an error page",
                "I cannot upload my files", "the page will not load on my phone", "the sync stopped working yesterday",
                "the software freezes after the update", "I get a timeout when I connect", "the search button does nothing",
                "notifications stopped arriving on my device", "the video keeps buffering and never plays"));
        ISSUES.put("account", List.of("I forgot my password", "I cannot log in to my profile",
                "please change the email on my account", "I want to delete my account", "my username is wrong",
                "someone else logged in to my account", "I need to update my phone number in my profile",
                "the two factor code never arrives", "my account was locked", "I want to merge my two accounts"));
        ISSUES.put("shipping", List.of("my package has not arrived", "the parcel was delivered to the wrong address",
                "the tracking number does not work", "my order arrived damaged", "the delivery is two weeks late",
                "I need to change my delivery address", "the courier never came", "only half of my order was in the box",
                "the box was left in the rain", "I want faster delivery for my order"));
    }

    private static final List<String> OPENINGS = List.of("Hi,", "Hello,", "Good morning.", "Hey there.", "Dear support,",
            "Hi team,", "Excuse me,", "Please help.", "Urgent:", "Quick question:", "Hello again,", "Good evening,");
    private static final List<String> CLOSINGS = List.of("Thanks.", "Thank you!", "Please fix this soon.", "Can you help?",
            "Regards, Sam", "Best, Alex", "I am waiting for your answer.", "This is the second time.", "Cheers.",
            "What should I do?", "Kind regards, Maria", "Please reply today.");

    /** The answers a compliant model gives. */
    public static Set<String> labels() {
        return ISSUES.keySet();
    }

    /**
     * The bundled English text as {"text": ...} examples, one paragraph each: pretraining data that
     * turns a random model into a (very small) language model before the demo fine-tunes it.
     */
    public static Path writePretrainingText(Path file) {
        StringBuilder text = new StringBuilder();
        for (String paragraph : ByteLevelBpeTokenizerWriter.trainingText().split("\n\s*\n")) {
            if (!paragraph.isBlank()) {
                text.append(Json.compact(Map.of("text", paragraph.strip()))).append('\n');
            }
        }
        AtomicFiles.writeString(file, text.toString());
        return file;
    }

    /** Paths of the three files written. */
    public record Files(Path train, Path validation, Path test) {}

    /** Writes train.jsonl, validation.jsonl and test.jsonl to dir; the same seed gives the same files. */
    public static Files write(Path dir, long seed, int train, int validation, int test) {
        Random random = new Random(seed);
        Set<String> seen = new HashSet<>();
        List<Map<String, Object>> all = new ArrayList<>();
        List<String> teams = new ArrayList<>(ISSUES.keySet());
        while (all.size() < train + validation + test) {
            String team = teams.get(all.size() % teams.size()); // balanced: every team a quarter of each split
            String ticket = pick(random, OPENINGS) + " " + pick(random, ISSUES.get(team)) + ". " + pick(random, CLOSINGS);
            if (seen.add(ticket)) {
                all.add(example(ticket, team));
            }
        }
        Files files = new Files(dir.resolve("train.jsonl"), dir.resolve("validation.jsonl"), dir.resolve("test.jsonl"));
        writeJsonl(files.train(), all.subList(0, train));
        writeJsonl(files.validation(), all.subList(train, train + validation));
        writeJsonl(files.test(), all.subList(train + validation, all.size()));
        return files;
    }

    private static Map<String, Object> example(String ticket, String team) {
        return Map.of("messages", List.of(message("system", SYSTEM), message("user", ticket), message("assistant", team)));
    }

    /** Ordered keys: role before content, as people write them (Map.of's order varies between runs). */
    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    private static String pick(Random random, List<String> options) {
        return options.get(random.nextInt(options.size()));
    }

    private static void writeJsonl(Path file, List<Map<String, Object>> examples) {
        StringBuilder text = new StringBuilder();
        examples.forEach(e -> text.append(Json.compact(e)).append('\n'));
        AtomicFiles.writeString(file, text.toString());
    }
}
