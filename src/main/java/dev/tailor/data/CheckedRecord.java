package dev.tailor.data;

import java.util.List;

/**
 * What the checks learned from one valid record, for training and for the validator's statistics.
 *
 * @param examples the examples to tokenize: one for SFT formats, chosen and rejected for a
 *     preference pair, none for vision (images are not tokenized here) or when not requested
 * @param roles the roles of the conversation's messages (a preference pair's prompt and chosen answer); empty otherwise
 * @param systemPrompt the first system message's text, or null
 * @param finalAnswer the last assistant message's (or completion's) text, or null
 * @param text all the record's text, for duplicate detection
 * @param images how many images the record holds
 * @param promptStart where {@link #prompt} starts in text
 * @param promptEnd where it ends
 * @param characters the length of the record's content (a preference pair: its prompt and longer answer),
 *     the length measure when no tokenizer is given
 */
record CheckedRecord(int line, DataFormat format, List<Example> examples, List<String> roles,
        String systemPrompt, String finalAnswer, String text, int images, int promptStart, int promptEnd, int characters) {

    /**
     * What the model is asked, for train/validation leakage: a conversation's messages before the
     * last assistant message (all of them without one), leading system messages left out since they
     * are shared by design; the prompt of a completion or preference pair; a text's whole text. Cut
     * from text on demand, so validation alone never copies it.
     */
    String prompt() {
        return text.substring(promptStart, promptEnd);
    }
}
