package dev.tailor.data;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;
import java.util.function.Predicate;

/** Filters and tests registered over Jinjava's where they differ from Jinja2 as transformers sets it up. */
final class JinjaFilters {
    private JinjaFilters() {}

    static List<Filter> filters() {
        return List.of(
                // transformers' own tojson: json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)
                filter("tojson", (value, args, kwargs) -> {
                    Object indent = param(args, kwargs, 1, "indent");
                    Object separators = param(args, kwargs, 2, "separators");
                    return new JinjaJson(
                            JinjaPython.truth(param(args, kwargs, 0, "ensure_ascii")),
                            JinjaPython.isNone(indent) ? null
                                    : indent instanceof String s ? s : " ".repeat(Math.max(0, ((Number) indent).intValue())),
                            JinjaPython.isNone(separators) ? null : list(separators).stream().map(JinjaPython::str).toList(),
                            JinjaPython.truth(param(args, kwargs, 3, "sort_keys")))
                            .dumps(value);
                }),
                // Jinja2 3.1's items: the pairs of a mapping, nothing for undefined
                filter("items", (value, args, kwargs) ->
                        value == null ? List.of() : new ArrayList<>(((Map<?, ?>) value).entrySet())),
                filter("string", (value, args, kwargs) -> JinjaPython.str(value)),
                // autoescape is off, so these only turn the value into text; Jinjava's SafeString is no str
                filter("safe", (value, args, kwargs) -> JinjaPython.str(value)),
                filter("escape", (value, args, kwargs) -> escape(JinjaPython.str(value))),
                filter("e", (value, args, kwargs) -> escape(JinjaPython.str(value))),
                // lengths in code points, as Python counts them (Jinjava counts UTF-16 units)
                filter("length", (value, args, kwargs) -> length(value)),
                filter("count", (value, args, kwargs) -> length(value)),
                // Python's str() of each item: [true]|join gives "True"
                filter("join", (value, args, kwargs) -> join(value, param(args, kwargs, 0, "d"),
                        param(args, kwargs, 1, "attribute"))),
                // Python's list(): the keys of a dict, the characters of a string
                filter("list", (value, args, kwargs) -> list(value)),
                filter("first", (value, args, kwargs) -> list(value).stream().findFirst().orElse(null)),
                filter("last", (value, args, kwargs) -> {
                    List<Object> items = list(value);
                    return items.isEmpty() ? null : items.get(items.size() - 1);
                }),
                // Jinja2 starts a word after "-", "(", "[", "{" or "<" too; Jinjava only after spaces
                filter("title", (value, args, kwargs) -> title(JinjaPython.str(value))),
                // Python's round() rounds half to even: 2.5|round is 2.0
                filter("round", (value, args, kwargs) -> round((Number) value, param(args, kwargs, 0, "precision"),
                        param(args, kwargs, 1, "method"))),
                // case-insensitive by default, keeping the first of equal items
                filter("unique", (value, args, kwargs) -> unique(list(value),
                        JinjaPython.truth(param(args, kwargs, 0, "case_sensitive")), param(args, kwargs, 1, "attribute"))),
                // Jinja2 allows no test (then truth) and these tests include the Python ones registered here
                filter("select", (value, args, kwargs) -> select(value, null, args, true)),
                filter("reject", (value, args, kwargs) -> select(value, null, args, false)),
                filter("selectattr", (value, args, kwargs) -> select(value, args[0], tail(args), true)),
                filter("rejectattr", (value, args, kwargs) -> select(value, args[0], tail(args), false)),
                // missing in Jinjava; Jinjava's sort and dictsort ignore attribute= and reverse=
                filter("max", (value, args, kwargs) -> extreme(value, 1, args, kwargs)),
                filter("min", (value, args, kwargs) -> extreme(value, -1, args, kwargs)),
                filter("sort", (value, args, kwargs) -> sorted(list(value), JinjaPython.truth(param(args, kwargs, 0, "reverse")),
                        JinjaPython.truth(param(args, kwargs, 1, "case_sensitive")), param(args, kwargs, 2, "attribute"))),
                filter("dictsort", (value, args, kwargs) -> sorted(new ArrayList<>(((Map<?, ?>) value).entrySet()),
                        JinjaPython.truth(param(args, kwargs, 2, "reverse")),
                        JinjaPython.truth(param(args, kwargs, 0, "case_sensitive")),
                        "value".equals(param(args, kwargs, 1, "by")) ? "1" : "0")),
                // Jinjava's default hands its argument over as a string: default(true) gave "true"
                filter("default", JinjaFilters::orDefault),
                filter("d", JinjaFilters::orDefault),
                // Jinjava sums in floating point: [1, 2]|sum gave 3.0
                filter("sum", (value, args, kwargs) -> sum(value, param(args, kwargs, 0, "attribute"),
                        param(args, kwargs, 1, "start"))),
                filter("trim", (value, args, kwargs) ->
                        JinjaPythonMethods.strip(JinjaPython.str(value), param(args, kwargs, 0, "chars"), true, true)));
    }

    static List<ExpTest> tests() {
        return List.of(
                test("none", JinjaPython::isNone),
                // Python iterates strings and dicts too; Jinjava's tests say no to a string
                test("iterable", JinjaFilters::isIterable),
                test("sequence", JinjaFilters::isIterable),
                test("number", value -> value instanceof Number || value instanceof Boolean)); // bool is an int
    }

    private static boolean isIterable(Object value) {
        return value instanceof CharSequence || value instanceof Map || JinjaPython.iterate(value) != null;
    }

    private interface Body {
        Object apply(Object value, Object[] args, Map<String, Object> kwargs);
    }

    private static Filter filter(String name, Body body) {
        return new Filter() {
            @Override
            public String getName() {
                return name;
            }

            @Override
            public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
                return body.apply(var, args, kwargs);
            }

            @Override
            public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
                return body.apply(var, args, Map.of());
            }
        };
    }

    private static ExpTest test(String name, Predicate<Object> predicate) {
        return new ExpTest() {
            @Override
            public String getName() {
                return name;
            }

            @Override
            public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
                return predicate.test(var);
            }
        };
    }

    /** Jinja2's default(value, default_value='', boolean=False): only undefined (or, if boolean, falsy) values are replaced. */
    private static Object orDefault(Object value, Object[] args, Map<String, Object> kwargs) {
        Object fallback = param(args, kwargs, 0, "default_value");
        boolean replaceFalsy = JinjaPython.truth(param(args, kwargs, 1, "boolean"));
        boolean replace = value == null || (replaceFalsy && !JinjaPython.truth(value));
        return !replace ? value : fallback == null ? "" : fallback;
    }

    private static Object sum(Object value, Object attribute, Object start) {
        long integral = start == null ? 0 : ((Number) start).longValue();
        double floating = start == null ? 0 : ((Number) start).doubleValue();
        boolean isFloat = start instanceof Double || start instanceof Float;
        for (Object item : list(value)) {
            Number n = JinjaPython.number(attribute == null ? item : attribute(item, attribute));
            isFloat |= n instanceof Double || n instanceof Float;
            integral += n.longValue();
            floating += n.doubleValue();
        }
        return isFloat ? (Object) floating : (Object) integral;
    }

    /** markupsafe's escape. */
    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("'", "&#39;").replace("\"", "&#34;");
    }

    private static String title(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean wordStart = true;
        for (int cp : text.codePoints().toArray()) {
            boolean separator = JinjaPythonMethods.isSpace(cp) || "-({[<".indexOf(cp) >= 0;
            out.appendCodePoint(separator ? cp : wordStart ? Character.toUpperCase(cp) : Character.toLowerCase(cp));
            wordStart = separator;
        }
        return out.toString();
    }

    private static Number round(Number value, Object precision, Object method) {
        int digits = precision == null ? 0 : ((Number) precision).intValue();
        RoundingMode mode = method == null || method.equals("common") ? RoundingMode.HALF_EVEN
                : method.equals("ceil") ? RoundingMode.CEILING : RoundingMode.FLOOR;
        if (!(value instanceof Double || value instanceof Float) && mode == RoundingMode.HALF_EVEN) {
            return value; // Python's round() keeps an int an int
        }
        return new BigDecimal(value.doubleValue()).setScale(digits, mode).doubleValue();
    }

    private static List<Object> unique(List<Object> items, boolean caseSensitive, Object attribute) {
        Set<Object> seen = new HashSet<>();
        List<Object> out = new ArrayList<>();
        for (Object item : items) {
            if (seen.add(sortKey(attribute == null ? item : attribute(item, attribute), caseSensitive))) {
                out.add(item);
            }
        }
        return out;
    }

    /** select/reject (attribute null) and selectattr/rejectattr: items whose (attribute) value passes a test. */
    private static List<Object> select(Object value, Object attribute, Object[] testAndArgs, boolean keep) {
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        ExpTest test = testAndArgs.length == 0 ? null : interpreter.getContext().getExpTest(JinjaPython.str(testAndArgs[0]));
        if (testAndArgs.length > 0 && test == null) {
            throw new IllegalArgumentException("No test named '" + testAndArgs[0] + "'.");
        }
        Object[] testArgs = tail(testAndArgs);
        List<Object> out = new ArrayList<>();
        for (Object item : list(value)) {
            Object tested = attribute == null ? item : attribute(item, attribute);
            boolean passes = test == null ? JinjaPython.truth(tested) : test.evaluate(tested, interpreter, testArgs);
            if (passes == keep) {
                out.add(item);
            }
        }
        return out;
    }

    private static Object[] tail(Object[] args) {
        return args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
    }

    private static int length(Object value) {
        if (value instanceof CharSequence s) {
            return s.toString().codePointCount(0, s.length());
        }
        return value instanceof Map<?, ?> map ? map.size() : list(value).size();
    }

    private static String join(Object value, Object separator, Object attribute) {
        StringJoiner out = new StringJoiner(separator == null ? "" : JinjaPython.str(separator));
        list(value).forEach(item -> out.add(JinjaPython.str(attribute == null ? item : attribute(item, attribute))));
        return out.toString();
    }

    private static Object extreme(Object value, int sign, Object[] args, Map<String, Object> kwargs) {
        List<Object> items = sorted(list(value), sign > 0, JinjaPython.truth(param(args, kwargs, 0, "case_sensitive")),
                param(args, kwargs, 1, "attribute"));
        return items.isEmpty() ? null : items.get(0);
    }

    /** Python's sorted(), comparing an attribute path of each item ("0"/"1": key/value of a pair). */
    private static List<Object> sorted(List<Object> items, boolean reverse, boolean caseSensitive, Object attribute) {
        Comparator<Object> order = Comparator.comparing(
                item -> sortKey(attribute == null ? item : attribute(item, attribute), caseSensitive),
                JinjaFilters::compare);
        items.sort(reverse ? order.reversed() : order);
        return items;
    }

    private static Object sortKey(Object value, boolean caseSensitive) {
        return !caseSensitive && value instanceof String s ? s.toLowerCase(Locale.ROOT) : value;
    }

    private static int compare(Object a, Object b) {
        if ((a instanceof Number || a instanceof Boolean) && (b instanceof Number || b instanceof Boolean)) {
            return Double.compare(JinjaPython.number(a).doubleValue(), JinjaPython.number(b).doubleValue());
        }
        return JinjaPython.str(a).compareTo(JinjaPython.str(b));
    }

    /** Jinja2's attribute path "a.b.0": keys of mappings, indices of lists. */
    private static Object attribute(Object item, Object path) {
        Object value = item;
        for (String part : JinjaPython.str(path).split("\\.")) {
            if (value instanceof Map.Entry<?, ?> pair) {
                value = part.equals("0") ? pair.getKey() : pair.getValue();
            } else if (value instanceof Map<?, ?> map) {
                value = map.get(part);
            } else if (value instanceof List<?> list && part.matches("\\d+")) {
                value = list.get(Integer.parseInt(part));
            } else {
                return null;
            }
        }
        return value;
    }

    /** Python's list(value); undefined is empty, as Jinja2's Undefined iterates. */
    private static List<Object> list(Object value) {
        List<Object> out = new ArrayList<>();
        Iterator<?> items = JinjaPython.iterate(value);
        if (value instanceof CharSequence s) {
            s.toString().codePoints().forEach(cp -> out.add(new String(Character.toChars(cp))));
        } else if (value instanceof Map<?, ?> map) {
            out.addAll(map.keySet());
        } else if (items != null) {
            items.forEachRemaining(out::add);
        } else if (value != null) {
            throw new IllegalArgumentException("'" + JinjaPython.typeName(value) + "' object is not iterable");
        }
        return out;
    }

    /** A filter argument given by position or by name, as Python binds it; null when absent. */
    private static Object param(Object[] args, Map<String, Object> kwargs, int position, String name) {
        return position < args.length ? args[position] : kwargs.get(name);
    }
}
