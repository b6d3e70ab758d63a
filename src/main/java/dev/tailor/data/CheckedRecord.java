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
 */
record CheckedRecord(int line, DataFormat format, List<Example> examples, List<String> roles,
        String systemPrompt, String finalAnswer, String text, int images) {}
