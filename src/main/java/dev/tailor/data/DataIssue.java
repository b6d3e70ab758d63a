package dev.tailor.data;

/**
 * One problem found in a data file: the 1-based line (null for a whole-file finding), a stable
 * code (the OpenAI cookbook's where one exists) and a one-line message "problem; fix".
 */
public record DataIssue(Integer line, String code, String message) {}
