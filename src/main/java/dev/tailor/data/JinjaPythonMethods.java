package dev.tailor.data;

import com.hubspot.jinjava.util.ForLoop;
import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's str and dict methods, string indexing and loop.previtem/nextitem, which templates use and
 * Jinjava either lacks or maps to Java methods of the same name (String.split takes a regex).
 * Placed before Jinjava's own resolvers; anything it does not know falls through to them.
 */
final class JinjaPythonMethods extends ELResolver {
    private static final Object UNKNOWN = new Object();
    private static final Pattern LINE_BREAK = Pattern.compile("\\r\\n|[\\n\\r\\x0b\\f\\x1c\\x1d\\x1e\\x85\\u2028\\u2029]");

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        Object value = UNKNOWN;
        if (base instanceof String s && isInteger(property)) {
            value = charAt(s, Integer.parseInt(property.toString())); // Jinjava passes the index as a string
        } else if (base instanceof ForLoop loop && ("previtem".equals(property) || "nextitem".equals(property))) {
            value = JinjaTags.neighbour(loop, "previtem".equals(property) ? -1 : 1);
        }
        return resolved(context, value);
    }

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        String name = method.toString();
        Object value = UNKNOWN;
        if (name.equals(JinjaExpressions.SLICE_METHOD)) {
            value = JinjaExpressions.slice(base, args[0], args[1], args[2]);
        } else if (base instanceof String s) {
            value = stringMethod(s, name, args);
        } else if (base instanceof Map<?, ?> map) {
            value = dictMethod(map, name, args);
        }
        return resolved(context, value);
    }

    private static Object resolved(ELContext context, Object value) {
        if (value == UNKNOWN) {
            return null;
        }
        context.setPropertyResolved(true);
        return value;
    }

    private static boolean isInteger(Object property) {
        return property instanceof Number || property instanceof String p && p.matches("-?\\d+");
    }

    private static Object charAt(String s, int index) {
        int length = s.codePointCount(0, s.length());
        int position = index < 0 ? index + length : index;
        if (position < 0 || position >= length) {
            return null; // Jinja2: an out-of-range subscript is undefined
        }
        return new String(Character.toChars(s.codePointAt(s.offsetByCodePoints(0, position))));
    }

    private static Object dictMethod(Map<?, ?> map, String name, Object[] args) {
        return switch (name) {
            case "get" -> map.containsKey(args[0]) ? map.get(args[0]) : args.length > 1 ? args[1] : JinjaNone.NONE;
            case "items" -> new ArrayList<>(map.entrySet());
            case "keys" -> new ArrayList<>(map.keySet());
            case "values" -> new ArrayList<>(map.values());
            default -> UNKNOWN;
        };
    }

    private static Object stringMethod(String s, String name, Object[] args) {
        return switch (name) {
            case "strip" -> strip(s, arg(args, 0), true, true);
            case "lstrip" -> strip(s, arg(args, 0), true, false);
            case "rstrip" -> strip(s, arg(args, 0), false, true);
            case "startswith" -> affixes(args[0]).stream().anyMatch(s::startsWith);
            case "endswith" -> affixes(args[0]).stream().anyMatch(s::endsWith);
            case "split" -> split(s, arg(args, 0), args.length > 1 ? ((Number) args[1]).intValue() : -1);
            case "rsplit" -> rsplit(s, arg(args, 0), args.length > 1 ? ((Number) args[1]).intValue() : -1);
            case "splitlines" -> splitlines(s);
            case "replace" -> replace(s, (String) args[0], (String) args[1],
                    args.length > 2 ? ((Number) args[2]).intValue() : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s : new String(Character.toChars(Character.toTitleCase(s.codePointAt(0))))
                    + s.substring(Character.charCount(s.codePointAt(0))).toLowerCase(Locale.ROOT);
            case "count" -> count(s, (String) args[0]);
            case "find" -> codePointIndex(s, s.indexOf((String) args[0]));
            case "rfind" -> codePointIndex(s, s.lastIndexOf((String) args[0]));
            case "join" -> join(s, args[0]);
            case "format" -> format(s, args);
            case "removeprefix" -> s.startsWith((String) args[0]) ? s.substring(((String) args[0]).length()) : s;
            case "removesuffix" -> s.endsWith((String) args[0]) && !((String) args[0]).isEmpty()
                    ? s.substring(0, s.length() - ((String) args[0]).length()) : s;
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(JinjaPythonMethods::isSpace);
            case "isupper" -> s.codePoints().anyMatch(Character::isUpperCase) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.codePoints().anyMatch(Character::isLowerCase) && s.equals(s.toLowerCase(Locale.ROOT));
            default -> UNKNOWN;
        };
    }

    private static Object arg(Object[] args, int index) {
        return index < args.length && !JinjaPython.isNone(args[index]) ? args[index] : null;
    }

    /** Python's str.isspace for one code point: Java's whitespace plus the no-break spaces and NEL. */
    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }

    static String strip(String s, Object chars, boolean left, boolean right) {
        String set = (String) chars;
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.codePointAt(start), set)) {
            start += Character.charCount(s.codePointAt(start));
        }
        while (right && end > start && stripped(s.codePointBefore(end), set)) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String set) {
        return set == null ? isSpace(cp) : set.indexOf(cp) >= 0;
    }

    /** startswith/endswith take one string or a tuple of them. */
    private static List<String> affixes(Object arg) {
        Iterator<?> items = JinjaPython.iterate(arg);
        if (items == null) {
            return List.of((String) arg);
        }
        List<String> out = new ArrayList<>();
        items.forEachRemaining(item -> out.add((String) item));
        return out;
    }

    private static List<String> split(String s, Object separator, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (separator == null) {
            int i = 0;
            while (true) {
                while (i < s.length() && isSpace(s.codePointAt(i))) {
                    i++;
                }
                if (i == s.length()) {
                    return out;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    return out;
                }
                int start = i;
                while (i < s.length() && !isSpace(s.codePointAt(i))) {
                    i++;
                }
                out.add(s.substring(start, i));
            }
        }
        String sep = nonEmpty((String) separator);
        int start = 0;
        int found;
        while ((maxSplit < 0 || out.size() < maxSplit) && (found = s.indexOf(sep, start)) >= 0) {
            out.add(s.substring(start, found));
            start = found + sep.length();
        }
        out.add(s.substring(start));
        return out;
    }

    private static List<String> rsplit(String s, Object separator, int maxSplit) {
        if (maxSplit < 0) {
            return split(s, separator, -1);
        }
        if (separator == null) {
            List<String> reversed = split(new StringBuilder(s).reverse().toString(), null, maxSplit);
            List<String> out = new ArrayList<>();
            for (int i = reversed.size() - 1; i >= 0; i--) {
                out.add(new StringBuilder(reversed.get(i)).reverse().toString());
            }
            return out;
        }
        String sep = nonEmpty((String) separator);
        List<String> out = new ArrayList<>();
        int end = s.length();
        int found;
        while (out.size() < maxSplit && (found = s.lastIndexOf(sep, end - sep.length())) >= 0) {
            out.add(0, s.substring(found + sep.length(), end));
            end = found;
        }
        out.add(0, s.substring(0, end));
        return out;
    }

    private static String nonEmpty(String separator) {
        if (separator.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        return separator;
    }

    private static List<String> splitlines(String s) {
        List<String> lines = new ArrayList<>(List.of(LINE_BREAK.split(s, -1)));
        if (lines.get(lines.size() - 1).isEmpty()) {
            lines.remove(lines.size() - 1); // no empty piece after a final line break (nor for "")
        }
        return lines;
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int start = 0;
        int found;
        for (int done = 0; done < count && (found = s.indexOf(old, start)) >= 0 && !old.isEmpty(); done++) {
            out.append(s, start, found).append(replacement);
            start = found + old.length();
        }
        return out.append(s.substring(start)).toString();
    }

    /** Python's title(): a cased character after an uncased one starts a word ("they're" -> "They'Re"). */
    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int cp : s.codePoints().toArray()) {
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            out.appendCodePoint(!cased ? cp : previousCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp));
            previousCased = cased;
        }
        return out.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.codePointCount(0, s.length()) + 1;
        }
        int count = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
            count++;
        }
        return count;
    }

    private static int codePointIndex(String s, int charIndex) {
        return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
    }

    private static String join(String separator, Object items) {
        Iterator<?> it = JinjaPython.iterate(items);
        List<String> parts = new ArrayList<>();
        it.forEachRemaining(item -> parts.add((String) item));
        return String.join(separator, parts);
    }

    /** str.format with automatic ({}) or numbered ({0}) fields and {{ }} escapes. */
    private static String format(String s, Object[] args) {
        StringBuilder out = new StringBuilder();
        int next = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ((c == '{' || c == '}') && i + 1 < s.length() && s.charAt(i + 1) == c) {
                out.append(c);
                i++;
            } else if (c == '{') {
                int close = s.indexOf('}', i);
                String field = s.substring(i + 1, close);
                int index = field.isEmpty() ? next++ : Integer.parseInt(field);
                out.append(JinjaPython.str(args[index]));
                i = close;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // read-only: transformers renders in an immutable sandbox
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return Object.class;
    }
}
