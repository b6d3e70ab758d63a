package dev.tailor.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class DataValidatorTest {
    static final String CHAT = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}";

    @TempDir
    Path dir;

    ValidationReport validate(String content) throws IOException {
        return validate(content, null);
    }

    ValidationReport validate(String content, DataFormat format) throws IOException {
        Path file = Files.writeString(dir.resolve("data.jsonl"), content);
        return new DataValidator(format, null, 512).validate(file);
    }

    /** n distinct chat examples (unrelated words, so no near-duplicates), with the given system prompt (null: none). */
    static String chats(int n, String system) {
        return IntStream.range(0, n).mapToObj(i -> "{\"messages\": [" + (system == null ? "" : "{\"role\": \"system\", \"content\": \"" + system + "\"}, ")
                + "{\"role\": \"user\", \"content\": \"" + words(i, 12) + "\"}, {\"role\": \"assistant\", \"content\": \"" + words(i + 1000, 8) + "\"}]}")
                .collect(Collectors.joining("\n", "", "\n"));
    }

    /** n pseudo-random words determined by seed: texts of different seeds share few 3-grams. */
    static String words(int seed, int n) {
        java.util.Random random = new java.util.Random(seed);
        return IntStream.range(0, n).mapToObj(i -> "w" + random.nextInt(100_000)).collect(Collectors.joining(" "));
    }

    static Map<String, Integer> counts(ValidationReport report, String key) {
        @SuppressWarnings("unchecked")
        Map<String, Integer> counts = (Map<String, Integer>) report.stats().get(key);
        return counts;
    }

    static List<DataIssue> warnings(ValidationReport report, String code) {
        return report.warnings().stream().filter(w -> w.code().equals(code)).toList();
    }

    /** Each case: a file (lines separated by '|'), the line of its only error and the error's code. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = ';', quoteCharacter = '`', value = {
        "invalid JSON;" + CHAT + "|{\"messages\": [;2;invalid_json",
        "two objects on a line;" + CHAT + " {};1;invalid_json",
        "not an object;" + CHAT + "|[1, 2];2;data_type",
        "a string;" + CHAT + "|\"text\";2;data_type",
        "unknown format; {\"input\": \"x\"};1;unknown_format",
        "mixed formats;" + CHAT + "|{\"text\": \"plain\"};2;mixed_formats",
        "missing messages;" + CHAT + "|{\"tools\": []};2;missing_messages_list",
        "messages not a list; {\"messages\": {}};1;missing_messages_list",
        "empty messages; {\"messages\": []};1;missing_messages_list",
        "message not an object; {\"messages\": [\"Hi\", {\"role\": \"assistant\", \"content\": \"x\"}]};1;data_type",
        "message without role; {\"messages\": [{\"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;message_missing_key",
        "message without content; {\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;message_missing_key",
        "unknown key; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\", \"mood\": 1}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;message_unrecognized_key",
        "unknown role; {\"messages\": [{\"role\": \"human\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;unrecognized_role",
        "null content; {\"messages\": [{\"role\": \"user\", \"content\": null}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;missing_content",
        "numeric content; {\"messages\": [{\"role\": \"user\", \"content\": 7}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;missing_content",
        "empty content; {\"messages\": [{\"role\": \"user\", \"content\": \"  \"}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;empty_content",
        "weight not 0 or 1; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\", \"weight\": 2}]};1;invalid_weight",
        "all weights zero; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\", \"weight\": 0}]};1;no_trained_message",
        "no assistant;" + CHAT + "|{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]};2;example_missing_assistant_message",
        "tools not a list; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}], \"tools\": 3};1;invalid_tools",
        "missing completion; {\"prompt\": \"a\"};1;missing_field",
        "completion not a string; {\"prompt\": \"a\", \"completion\": 4};1;field_type",
        "empty completion; {\"prompt\": \"a\", \"completion\": \"b\"}|{\"prompt\": \"a\", \"completion\": \"\"};2;empty_completion",
        "empty text; {\"text\": \"\"};1;empty_text",
        "identical pair, TRL strings; {\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"};1;identical_preference_pair",
        "identical pair, guide's messages; {\"messages\": [{\"role\": \"user\", \"content\": \"p\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"a\"}]};1;identical_preference_pair",
        "identical pair, OpenAI; {\"input\": {\"messages\": [{\"role\": \"user\", \"content\": \"p\"}]}, \"preferred_output\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"non_preferred_output\": [{\"role\": \"assistant\", \"content\": \"a\"}]};1;identical_preference_pair",
        "pair without rejected; {\"prompt\": \"p\", \"chosen\": \"a\"};1;missing_field",
        "pair side without assistant; {\"messages\": [{\"role\": \"user\", \"content\": \"p\"}], \"chosen\": [{\"role\": \"user\", \"content\": \"a\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"b\"}]};1;example_missing_assistant_message",
        "OpenAI pair without input; {\"preferred_output\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"non_preferred_output\": [{\"role\": \"assistant\", \"content\": \"b\"}]};1;missing_field",
        "bad content part; {\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"audio\"}]}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;invalid_content_part",
        "image in assistant message; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://example.com/a.png\"}}]}]};1;image_in_assistant_message",
        "image file missing; {\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"nope.png\"}}]}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;image_not_found",
        "data URL without base64; {\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png,xyz\"}}]}, {\"role\": \"assistant\", \"content\": \"x\"}]};1;image_undecodable",
    })
    void eachErrorHasItsLineAndCode(String name, String content, int line, String code) throws IOException {
        ValidationReport report = validate(content.strip().replace("|", "\n") + "\n");

        assertEquals(1, report.errors().size(), () -> report.errors().toString());
        DataIssue error = report.errors().get(0);
        assertEquals(line, error.line());
        assertEquals(code, error.code());
        assertTrue(error.message().contains("; "), "names a fix: " + error.message());
        assertEquals(Map.of(code, 1), counts(report, "errors_by_code"));
        assertTrue(!report.usable());
    }

    /** Training reads SFT files through the same checks: its exception is the validator's first error, with file and line. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = ';', quoteCharacter = '`', value = {
        "unknown key; {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\", \"mood\": 1}, {\"role\": \"assistant\", \"content\": \"x\"}]}",
        "empty content;" + CHAT + "|{\"messages\": [{\"role\": \"user\", \"content\": \"\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}",
        "no assistant;" + CHAT + "|{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}",
        "invalid JSON;" + CHAT + "|{\"messages\": [",
        "empty completion; {\"prompt\": \"a\", \"completion\": \"\"}",
    })
    void trainingStopsAtTheValidatorsFirstError(String name, String content) throws IOException {
        Path file = Files.writeString(dir.resolve("train.jsonl"), content.strip().replace("|", "\n") + "\n");
        DataIssue first = new DataValidator(null, null, 512).validate(file).errors().get(0);

        TailorException e = assertThrows(TailorException.class, () -> Dataset.load(file));

        assertEquals(file + ":" + first.line() + ": " + first.message(), e.getMessage());
    }

    @Test
    void reportsEveryErrorInOnePassAndCapsEachCode() throws IOException {
        String bad = "{\"messages\": [{\"role\": \"human\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}";
        String content = CHAT + "\n" + (bad + "\n").repeat(25) + "{\"messages\": []}\n";

        ValidationReport report = validate(content);

        assertEquals(27, report.examples());
        assertEquals(Map.of("unrecognized_role", 25, "missing_messages_list", 1), counts(report, "errors_by_code"));
        List<DataIssue> roles = report.errors().stream().filter(e -> e.code().equals("unrecognized_role")).toList();
        assertEquals(DataValidator.MAX_PER_CODE, roles.size());
        assertEquals(IntStream.rangeClosed(2, 21).boxed().toList(), roles.stream().map(DataIssue::line).toList());
        assertEquals(27, report.errors().get(report.errors().size() - 1).line());
        assertTrue(report.summary("data.jsonl").contains("... and 5 more unrecognized_role"), report.summary("data.jsonl"));
    }

    @Test
    void invalidUtf8IsAnErrorAtItsLineAndLaterLinesAreStillChecked() throws IOException {
        Path file = dir.resolve("latin1.jsonl");
        Files.write(file, (CHAT + "\n{\"text\": \"caf").getBytes(StandardCharsets.UTF_8));
        Files.write(file, new byte[] {(byte) 0xE9, '"', '}', '\n'}, StandardOpenOption.APPEND);
        Files.writeString(file, "{\"messages\": []}\n", StandardOpenOption.APPEND);

        ValidationReport report = new DataValidator(null, null, 512).validate(file);

        assertEquals(List.of(new DataIssue(2, "invalid_utf8", "not valid UTF-8; save the file as UTF-8")), report.errors().subList(0, 1));
        assertEquals(3, report.errors().get(1).line());
        assertEquals("missing_messages_list", report.errors().get(1).code());
    }

    @Test
    void anEmptyFileIsAnError() throws IOException {
        ValidationReport report = validate("\n  \n");

        assertEquals(0, report.examples());
        assertEquals(List.of("empty_file"), report.errors().stream().map(DataIssue::code).toList());
        assertNull(report.errors().get(0).line());
        assertNull(report.format());
    }

    @Test
    void aCleanFileOfFiftyExamplesHasNoErrorsAndNoWarnings() throws IOException {
        ValidationReport report = validate(chats(50, "You are terse."));

        assertEquals(List.of(), report.errors());
        assertEquals(List.of(), report.warnings());
        assertEquals("chat", report.format());
        assertEquals(50, report.examples());
        assertEquals(Map.of("min", 3, "median", 3, "p95", 3, "max", 3), report.stats().get("messages_per_example"));
        assertEquals(Map.of("assistant", 50, "system", 50, "user", 50), report.stats().get("role_counts"));
        assertEquals(1, report.stats().get("distinct_system_prompts"));
        assertTrue(report.usable());
    }

    @Test
    void readsBomCrlfAndGzip() throws IOException {
        Path gz = dir.resolve("data.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(("\uFEFF" + CHAT + "\r\n\r\n" + CHAT.replace("Hi", "Hey") + "\r\n").getBytes(StandardCharsets.UTF_8));
        }

        ValidationReport report = new DataValidator(null, null, 512).validate(gz);

        assertEquals(List.of(), report.errors());
        assertEquals(2, report.examples());
    }

    @Test
    void aJsonArrayIsAcceptedWithAWarningAndElementLines() throws IOException {
        ValidationReport report = validate("[\n" + CHAT + ",\n" + CHAT.replace("Hi", "Hey") + ",\n{\"messages\": []}\n]\n");

        assertEquals(3, report.examples());
        assertEquals(1, warnings(report, "json_array").size());
        assertEquals(List.of(new DataIssue(4, "missing_messages_list", "\"messages\" is empty; add the conversation's messages")), report.errors());
    }

    @Test
    void warnsAboutMissingAndInconsistentSystemPromptsAndFewExamples() throws IOException {
        String content = chats(3, null) + chats(40, "Prompt A").lines().skip(3).collect(Collectors.joining("\n", "", "\n"))
                + chats(45, "Prompt B").lines().skip(43).collect(Collectors.joining("\n", "", "\n"));

        ValidationReport report = validate(content);

        assertEquals(List.of(), report.errors());
        assertEquals(List.of(new DataIssue(1, "missing_system_message", "3 of 42 examples have no system message (first at line 1);"
                + " add the system prompt you will use at inference to every example")), warnings(report, "missing_system_message"));
        assertTrue(warnings(report, "inconsistent_system_prompts").get(0).message().startsWith("2 distinct system prompts (the most common,"
                + " \"Prompt A\", in 37 of 39 examples)"), report.warnings().toString());
        assertEquals("only 42 examples: fewer than 50 rarely produces meaningful improvements; aim for 100-500",
                warnings(report, "few_examples").get(0).message());
        assertEquals(2, report.stats().get("distinct_system_prompts"));
        assertTrue(report.usable());
    }

    @Test
    void reportsExactAndNearDuplicateClusters() throws IOException {
        String base = words(7, 40);
        String nearCopy = base.replaceFirst("w\\d+$", "changed");
        String line = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"%s\"}, {\"role\": \"assistant\", \"content\": \"%s\"}]}\n";
        String content = chats(48, "S") + String.format(line, base, "answer one two three four")
                + String.format(line, base, "answer one two three four") + String.format(line, nearCopy, "answer one two three four");

        ValidationReport report = validate(content);

        assertEquals(List.of(new DataIssue(49, "duplicate_examples", "lines 49, 50 are identical examples; remove the copies (tailor data dedupe)")),
                warnings(report, "duplicate_examples"));
        List<DataIssue> near = warnings(report, "near_duplicates");
        assertEquals(1, near.size(), report.warnings().toString());
        assertTrue(near.get(0).message().startsWith("lines 49, 51 are near-duplicates"), near.get(0).message());
        assertEquals(1, report.stats().get("exact_duplicate_clusters"));
        assertEquals(1, report.stats().get("exact_duplicate_examples"));
        assertEquals(1, report.stats().get("near_duplicate_clusters"));
        assertEquals(1, report.stats().get("near_duplicate_examples"));
    }

    static Stream<Arguments> promptsAndLengths() {
        String chat = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"What is 2+2?\"},"
                + " {\"role\": \"assistant\", \"content\": \"4\"}, {\"role\": \"user\", \"content\": \"And 3+3?\"},"
                + " {\"role\": \"assistant\", \"content\": \"6\"}]}";
        String rft = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Solve x\"}], \"answer\": \"5\"}";
        String openai = "{\"input\": {\"messages\": [{\"role\": \"system\", \"content\": \"Sys\"}, {\"role\": \"user\", \"content\": \"Hi\"}]},"
                + " \"preferred_output\": [{\"role\": \"assistant\", \"content\": \"Hello\"}],"
                + " \"non_preferred_output\": [{\"role\": \"assistant\", \"content\": \"Go away now\"}]}";
        return Stream.of(
                Arguments.of("chat: the turns before the last answer, no system prompt", chat, "user: What is 2+2?\nassistant: 4\nuser: And 3+3?\n",
                        "Be brief.".length() + "What is 2+2?".length() + 1 + "And 3+3?".length() + 1),
                Arguments.of("rft: every turn but the system prompt", rft, "user: Solve x\n", 1 + "Solve x".length()),
                Arguments.of("completion", "{\"prompt\": \"Translate: hi\", \"completion\": \"salut\"}", "Translate: hi", 13 + 5),
                Arguments.of("text", "{\"text\": \"Plain words\"}", "Plain words", 11),
                Arguments.of("preference, TRL strings: the prompt and the longer answer", "{\"prompt\": \"Sum up.\", \"chosen\": \"Short.\","
                        + " \"rejected\": \"Long answer.\"}", "Sum up.", 7 + 12),
                Arguments.of("preference, OpenAI", openai, "user: Hi\n", 3 + 2 + 11));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("promptsAndLengths")
    void eachRecordCarriesItsPromptAndContentLength(String name, String line, String prompt, int characters) throws IOException {
        List<CheckedRecord> records = new ArrayList<>();
        Path file = Files.writeString(dir.resolve("one.jsonl"), line + "\n" + line + "\n");

        ValidationReport report = new DataValidator(null, null, 512).validate(file, records::add);

        assertEquals(List.of(), report.errors());
        assertEquals(List.of(prompt, prompt), records.stream().map(CheckedRecord::prompt).toList());
        assertEquals(List.of(characters, characters), records.stream().map(CheckedRecord::characters).toList());
        assertArrayEquals(new int[] {characters, characters}, report.characterLengths());
        assertEquals(Map.of("min", characters, "median", characters, "p95", characters, "max", characters),
                report.stats().get("characters_per_example"));
        assertNull(report.tokenLengths(), "no model, no token counts");
    }

    @Test
    void warnsWhenOneShortAnswerDominates() throws IOException {
        StringBuilder content = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            String label = i < 40 ? "billing" : i % 2 == 0 ? "technical" : "shipping";
            content.append("{\"messages\": [{\"role\": \"system\", \"content\": \"Route.\"}, {\"role\": \"user\", \"content\": \"")
                    .append(words(i, 10)).append("\"}, {\"role\": \"assistant\", \"content\": \"").append(label).append("\"}]}\n");
        }

        ValidationReport report = validate(content.toString());

        assertEquals(List.of(new DataIssue(null, "imbalanced_answers", "the answer \"billing\" is 40 of 60 short answers (67%);"
                + " the model learns to favour it: balance the classes")), warnings(report, "imbalanced_answers"));
        assertEquals(Map.of("examples", 60, "distinct", 3, "top", Map.of("billing", 40, "shipping", 10, "technical", 10)),
                report.stats().get("short_answers"));
    }

    @Test
    void balancedLabelsAreNotImbalanced() throws IOException {
        StringBuilder content = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            content.append("{\"messages\": [{\"role\": \"system\", \"content\": \"Route.\"}, {\"role\": \"user\", \"content\": \"")
                    .append(words(i, 10)).append("\"}, {\"role\": \"assistant\", \"content\": \"").append(List.of("a", "b", "c").get(i % 3)).append("\"}]}\n");
        }

        assertEquals(List.of(), warnings(validate(content.toString()), "imbalanced_answers"));
    }

    @Test
    void acceptsTheThreePreferenceForms() throws IOException {
        String guide = "{\"messages\": [{\"role\": \"user\", \"content\": \"Summarize.\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"Short.\"}],"
                + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"Well, it is complex...\"}]}";
        String trl = "{\"prompt\": \"Summarize.\", \"chosen\": \"Short.\", \"rejected\": \"Well, it is complex...\"}";
        String openai = "{\"input\": {\"messages\": [{\"role\": \"user\", \"content\": \"Summarize.\"}]},"
                + " \"preferred_output\": [{\"role\": \"assistant\", \"content\": \"Short.\"}],"
                + " \"non_preferred_output\": [{\"role\": \"assistant\", \"content\": \"Well, it is complex...\"}]}";
        for (String form : List.of(guide, trl, openai)) {
            ValidationReport report = validate(form + "\n");

            assertEquals(List.of(), report.errors(), form);
            assertEquals("preference", report.format(), form);
            assertEquals(Map.of("assistant", 1, "user", 1), report.stats().get("role_counts"), form);
        }
        assertEquals("mixed_formats", validate(trl + "\n" + CHAT + "\n").errors().get(0).code());
    }

    @Test
    void reinforcementFineTuningNeedsReferenceFieldsButNoAnswer() throws IOException {
        String rft = "{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2?\"}], \"answer\": \"4\"}\n";

        ValidationReport detected = validate(rft);
        ValidationReport forced = validate("{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2?\"}]}\n", DataFormat.RFT);

        assertEquals("rft", detected.format());
        assertEquals(List.of(), detected.errors());
        assertEquals("missing_reference_fields", forced.errors().get(0).code());
        assertEquals("example_missing_assistant_message",
                validate("{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2?\"}]}\n").errors().get(0).code());
    }

    @Test
    void aForcedFormatRejectsOtherRecords() throws IOException {
        ValidationReport report = validate(CHAT + "\n", DataFormat.COMPLETION);

        assertEquals("mixed_formats", report.errors().get(0).code());
        assertTrue(report.errors().get(0).message().contains("--format completion"), report.errors().get(0).message());
    }
}
