package dev.tailor.data;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites Jinja2 expression syntax that Jinjava's parser gets wrong into forms it parses as Jinja2
 * does, before Jinjava sees an expression:
 * <ul>
 *   <li>slices: Jinjava has no step (Qwen3 iterates messages[::-1]) and fails on out-of-range string
 *       bounds, so x[a:b:c] becomes x.__py_slice__(a, b, c), answered by {@link JinjaPythonMethods};
 *   <li>keyword arguments: Jinjava binds name=value as tightly as "+", so namespace(n=xs|length - 1)
 *       would subtract from the argument; the value is parenthesised;
 *   <li>string literals: Python escapes (\u00fc, \x41, ...) are decoded, since Jinjava rejects them;
 *   <li>unknown filters and tests fail as in Jinja2, where Jinjava would silently render nothing.
 * </ul>
 */
final class JinjaExpressions {
    static final String SLICE_METHOD = "__py_slice__";
    private static final Pattern FILTER_OR_TEST = Pattern.compile("(\\||is(?:\\s+not)?(?=\\s))\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern KEYWORD_ARGUMENT = Pattern.compile("(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=)(?!=)(.*)", Pattern.DOTALL);

    private JinjaExpressions() {}

    static String rewrite(String expression) {
        StringBuilder out = new StringBuilder(expression.length() + 16);
        int i = 0;
        while (i < expression.length()) {
            char c = expression.charAt(i);
            if (c == '\'' || c == '"') {
                int end = endOfString(expression, i);
                if (end < 0) {
                    return out.append(expression, i, expression.length()).toString(); // Jinjava reports it
                }
                out.append(c).append(escapeForJinjava(decodePython(expression.substring(i + 1, end - 1)), c)).append(c);
                i = end;
                continue;
            }
            int close = c == '[' || c == '(' ? closing(expression, i) : -1;
            if (close < 0) {
                if (c == '|' || Character.isLetter(c) && isWordStart(expression, i)) {
                    checkKnown(expression, i);
                }
                out.append(c);
                i++;
            } else {
                out.append(c == '[' ? subscript(expression, i + 1, close) : arguments(expression, i + 1, close));
                i = close + 1;
            }
        }
        return out.toString();
    }

    /** [index] stays; [a:b] and [a:b:c] become .__py_slice__(a, b, c). */
    private static String subscript(String expression, int from, int to) {
        List<String> bounds = splitTopLevel(expression, from, to, ':');
        if (bounds.size() == 1) {
            return "[" + rewrite(bounds.get(0)) + "]";
        }
        StringJoiner slice = new StringJoiner(", ", "." + SLICE_METHOD + "(", ")");
        for (int k = 0; k < 3; k++) {
            String bound = k < bounds.size() ? bounds.get(k).strip() : "";
            slice.add(bound.isEmpty() ? "null" : rewrite(bound));
        }
        return slice.toString();
    }

    /** (a, name=b + c) becomes (a, name=(b + c)). */
    private static String arguments(String expression, int from, int to) {
        StringJoiner arguments = new StringJoiner(",", "(", ")");
        for (String argument : splitTopLevel(expression, from, to, ',')) {
            Matcher keyword = KEYWORD_ARGUMENT.matcher(argument);
            arguments.add(keyword.matches() ? keyword.group(1) + "(" + rewrite(keyword.group(2)) + ")" : rewrite(argument));
        }
        return arguments.toString();
    }

    /** The condition of "for x in items if condition", or -1: the index of a top-level " if ". */
    static int loopCondition(String loopExpression) {
        int depth = 0;
        for (int i = 0; i < loopExpression.length(); i++) {
            char c = loopExpression.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(loopExpression, i);
            } else if (c == '[' || c == '(' || c == '{') {
                depth++;
            } else if (c == ']' || c == ')' || c == '}') {
                depth--;
            } else if (depth == 0 && loopExpression.startsWith("if", i) && isWordStart(loopExpression, i)
                    && i + 2 < loopExpression.length() && Character.isWhitespace(loopExpression.charAt(i + 2))) {
                return i;
            }
        }
        return -1;
    }

    private static boolean isWordStart(String s, int i) {
        return i == 0 || !(Character.isLetterOrDigit(s.charAt(i - 1)) || s.charAt(i - 1) == '_' || s.charAt(i - 1) == '.');
    }

    /** "| name" must name a filter and "is [not] name" a test, as Jinja2 checks when compiling. */
    private static void checkKnown(String expression, int i) {
        Matcher use = FILTER_OR_TEST.matcher(expression).region(i, expression.length());
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        if (!use.lookingAt() || interpreter == null) {
            return;
        }
        boolean filter = use.group(1).equals("|");
        String name = use.group(2);
        if (filter ? interpreter.getContext().getFilter(name) == null : interpreter.getContext().getExpTest(name) == null) {
            throw new IllegalArgumentException("No " + (filter ? "filter" : "test") + " named '" + name + "'.");
        }
    }

    /** Python's unicode-escape decoding, which Jinja2 applies to string literals. */
    private static String decodePython(String body) {
        if (body.indexOf('\\') < 0) {
            return body;
        }
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 == body.length()) {
                out.append(c);
                continue;
            }
            char e = body.charAt(++i);
            int hexDigits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
            if (hexDigits > 0 && i + hexDigits < body.length()) {
                out.appendCodePoint(Integer.parseInt(body.substring(i + 1, i + 1 + hexDigits), 16));
                i += hexDigits;
            } else if (e >= '0' && e <= '7') {
                int end = i;
                while (end < body.length() && end < i + 3 && body.charAt(end) >= '0' && body.charAt(end) <= '7') {
                    end++;
                }
                out.append((char) Integer.parseInt(body.substring(i, end), 8));
                i = end - 1;
            } else {
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'a' -> out.append('\007');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'v' -> out.append('\013');
                    case '\\', '\'', '"' -> out.append(e);
                    case '\n' -> { } // an escaped line break continues the line
                    default -> out.append('\\').append(e); // unknown escapes stay as written
                }
            }
        }
        return out.toString();
    }

    /** Jinjava's string literals know only \\ and an escaped quote. */
    private static String escapeForJinjava(String text, char quote) {
        return text.replace("\\", "\\\\").replace(String.valueOf(quote), "\\" + quote);
    }

    /** Python's sequence[start:stop:step] for strings (by code point) and lists. */
    static Object slice(Object base, Object start, Object stop, Object step) {
        int stepValue = JinjaPython.isNone(step) ? 1 : ((Number) step).intValue();
        if (stepValue == 0) {
            throw new IllegalArgumentException("slice step cannot be zero");
        }
        if (base instanceof CharSequence text) {
            int[] codePoints = text.toString().codePoints().toArray();
            StringBuilder out = new StringBuilder();
            for (int index : indices(codePoints.length, start, stop, stepValue)) {
                out.appendCodePoint(codePoints[index]);
            }
            return out.toString();
        }
        Iterator<?> items = JinjaPython.iterate(base);
        if (items == null) {
            throw new IllegalArgumentException("cannot slice " + JinjaPython.repr(base));
        }
        List<Object> all = new ArrayList<>();
        items.forEachRemaining(all::add);
        List<Object> out = new ArrayList<>();
        for (int index : indices(all.size(), start, stop, stepValue)) {
            out.add(all.get(index));
        }
        return out;
    }

    /** The positions slice(start, stop, step).indices(length) visits, clamped as Python clamps them. */
    private static List<Integer> indices(int length, Object start, Object stop, int step) {
        int lower = step > 0 ? 0 : -1;
        int upper = step > 0 ? length : length - 1;
        int from = bound(start, length, lower, upper, step > 0 ? lower : upper);
        int to = bound(stop, length, lower, upper, step > 0 ? upper : lower);
        List<Integer> out = new ArrayList<>();
        for (int i = from; step > 0 ? i < to : i > to; i += step) {
            out.add(i);
        }
        return out;
    }

    private static int bound(Object value, int length, int lower, int upper, int absent) {
        if (JinjaPython.isNone(value)) {
            return absent;
        }
        int index = ((Number) value).intValue();
        return index < 0 ? Math.max(index + length, lower) : Math.min(index, upper);
    }

    /** The index after the string literal starting at open, or -1 when it is not closed. */
    private static int endOfString(String s, int open) {
        char quote = s.charAt(open);
        for (int i = open + 1; i < s.length(); i++) {
            if (s.charAt(i) == '\\') {
                i++;
            } else if (s.charAt(i) == quote) {
                return i + 1;
            }
        }
        return -1;
    }

    /** Where scanning goes on after a string literal starting at i (the last index if it is not closed). */
    private static int skipString(String s, int i) {
        int end = endOfString(s, i);
        return end < 0 ? s.length() - 1 : end - 1;
    }

    /** The index of the bracket closing the one at open, or -1 when they do not pair up. */
    private static int closing(String s, int open) {
        int depth = 0;
        for (int i = open; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(s, i);
            } else if (c == '[' || c == '(' || c == '{') {
                depth++;
            } else if ((c == ']' || c == ')' || c == '}') && --depth == 0) {
                return "([{".indexOf(s.charAt(open)) == ")]}".indexOf(c) ? i : -1;
            }
        }
        return -1;
    }

    /** The text between from and to split at separators outside nested brackets and strings. */
    private static List<String> splitTopLevel(String s, int from, int to, char separator) {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        int partStart = from;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(s, i);
            } else if (c == '[' || c == '(' || c == '{') {
                depth++;
            } else if (c == ']' || c == ')' || c == '}') {
                depth--;
            } else if (c == separator && depth == 0) {
                parts.add(s.substring(partStart, i));
                partStart = i + 1;
            }
        }
        parts.add(s.substring(partStart, to));
        return parts;
    }
}
