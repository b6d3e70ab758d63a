package dev.tailor.data;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jinja2's lexer whitespace rules (as transformers sets them: trim_blocks, lstrip_blocks, no
 * keep_trailing_newline), applied to the template source before Jinjava parses it. Jinjava's own
 * versions differ: its lstrip_blocks also strips before a tag in the middle of a line, its trimming
 * shifts the line numbers of errors, and keep_trailing_newline cuts the output instead of the source.
 * <p>
 * The whitespace that Jinja2 removes next to a tag is moved inside the tag instead, where it means
 * nothing but still counts for line numbers, and the tag loses its "-" and "+" markers.
 */
final class JinjaSource {
    private static final Pattern END_RAW = Pattern.compile("\\{%[-+]?\\s*endraw\\s*[-+]?%}");

    private JinjaSource() {}

    static String prepare(String source) {
        String text = source.replaceAll("\r\n?", "\n").replaceFirst("\n$", "");
        StringBuilder out = new StringBuilder(text.length());
        int dataStart = 0;
        boolean lineStarting = true;
        int i = 0;
        while (i < text.length()) {
            int open = nextTag(text, i);
            int end = open < 0 ? -1 : endOfTag(text, open);
            if (end < 0) {
                out.append(text, i, text.length()); // an unclosed tag is Jinjava's syntax error to report
                break;
            }
            out.append(text, i, open);
            boolean block = text.charAt(open + 1) != '{';
            char left = text.charAt(open + 2);
            char right = text.charAt(end - 3);
            boolean leftMarker = left == '-' || block && left == '+';
            boolean rightMarker = end - 3 > open + 2 && (right == '-' || block && right == '+');

            String before = "";
            if (left == '-') {
                before = cutTrailingSpace(out, dataStart);
            } else if (block && left != '+') {
                lstrip(out, dataStart, lineStarting);
            }
            int next = end;
            if (right == '-' && rightMarker) {
                while (next < text.length() && JinjaPythonMethods.isSpace(text.charAt(next))) {
                    next++;
                }
            } else if (block && right != '+' && next < text.length() && text.charAt(next) == '\n') {
                next++; // trim_blocks
            }
            String after = text.substring(end, next);
            int bodyStart = open + 2 + (leftMarker ? 1 : 0);
            int bodyEnd = Math.max(bodyStart, end - 2 - (rightMarker ? 1 : 0));
            out.append(text, open, open + 2).append(before).append(text, bodyStart, bodyEnd)
                    .append(after).append(text, end - 2, end);
            dataStart = out.length();
            lineStarting = after.endsWith("\n");
            i = next;
            if (block && text.substring(bodyStart, bodyEnd).strip().equals("raw")) {
                Matcher endRaw = END_RAW.matcher(text);
                if (endRaw.find(next)) {
                    out.append(text, next, endRaw.start()); // raw text is no template: copied as it is
                    i = endRaw.start();
                }
            }
        }
        return out.toString();
    }

    /** "{%-": the whitespace ending the text before the tag. */
    private static String cutTrailingSpace(StringBuilder out, int dataStart) {
        int start = out.length();
        while (start > dataStart && JinjaPythonMethods.isSpace(out.charAt(start - 1))) {
            start--;
        }
        String cut = out.substring(start);
        out.setLength(start);
        return cut;
    }

    /** lstrip_blocks: spaces before a block tag go when only they stand between it and its line start. */
    private static void lstrip(StringBuilder out, int dataStart, boolean lineStarting) {
        int lineBreak = out.lastIndexOf("\n");
        int lineStart = lineBreak >= dataStart ? lineBreak + 1 : lineStarting ? dataStart : -1;
        if (lineStart < 0) {
            return; // the tag follows another tag on the same line
        }
        for (int k = lineStart; k < out.length(); k++) {
            if (!JinjaPythonMethods.isSpace(out.charAt(k))) {
                return;
            }
        }
        out.setLength(lineStart);
    }

    private static int nextTag(String text, int from) {
        for (int i = text.indexOf('{', from); i >= 0 && i + 2 < text.length(); i = text.indexOf('{', i + 1)) {
            char next = text.charAt(i + 1);
            if (next == '{' || next == '%' || next == '#') {
                return i;
            }
        }
        return -1;
    }

    /** The index after the tag opened at open, or -1; string and dict literals may contain its closing. */
    private static int endOfTag(String text, int open) {
        char kind = text.charAt(open + 1);
        char closing = kind == '{' ? '}' : kind;
        char quote = 0;
        int braces = 0;
        for (int i = open + 2; i + 1 < text.length(); i++) {
            char c = text.charAt(i);
            if (kind == '#' || quote == 0 && braces == 0) {
                if (c == closing && text.charAt(i + 1) == '}') {
                    return i + 2;
                }
                if (kind == '#') {
                    continue;
                }
            }
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '{') {
                braces++;
            } else if (c == '}' && braces > 0) {
                braces--;
            }
        }
        return -1;
    }
}
