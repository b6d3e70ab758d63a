package dev.tailor.data;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Python's json.dumps, which transformers' tojson filter calls: ", " and ": " separators by default,
 * optional indent, insertion-ordered keys and, with ensure_ascii=False, non-ASCII text kept as is.
 */
final class JinjaJson {
    private final boolean ensureAscii;
    private final String indent;
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;

    /** indent: null for one line, else the string put once per nesting level (Python: an int n means n spaces). */
    JinjaJson(boolean ensureAscii, String indent, List<String> separators, boolean sortKeys) {
        this.ensureAscii = ensureAscii;
        this.indent = indent;
        // json.dumps drops the space after "," when indenting, since a newline follows
        this.itemSeparator = separators != null ? separators.get(0) : indent == null ? ", " : ",";
        this.keySeparator = separators != null ? separators.get(1) : ": ";
        this.sortKeys = sortKeys;
    }

    String dumps(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out, 0);
        return out.toString();
    }

    private void write(Object value, StringBuilder out, int depth) {
        if (JinjaPython.isNone(value)) {
            out.append("null");
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (value instanceof Double || value instanceof Float || value instanceof BigDecimal) {
            out.append(number(((Number) value).doubleValue()));
        } else if (value instanceof Number n) {
            out.append(n);
        } else if (value instanceof CharSequence s) {
            string(s.toString(), out);
        } else if (value instanceof Map<?, ?> map) {
            List<Map.Entry<String, Object>> entries = new ArrayList<>();
            map.forEach((k, v) -> entries.add(Map.entry(key(k), v == null ? JinjaNone.NONE : v)));
            if (sortKeys) {
                entries.sort(Map.Entry.comparingByKey());
            }
            container('{', '}', entries.iterator(), out, depth, (entry, d) -> {
                string(entry.getKey(), out);
                out.append(keySeparator);
                write(entry.getValue(), out, d);
            });
        } else if (value instanceof Map.Entry<?, ?> pair) {
            write(List.of(pair.getKey(), pair.getValue()), out, depth);
        } else if (JinjaPython.iterate(value) != null) {
            container('[', ']', JinjaPython.iterate(value), out, depth, (item, d) -> write(item, out, d));
        } else {
            string(value.toString(), out);
        }
    }

    private interface ItemWriter<T> {
        void write(T item, int depth);
    }

    private <T> void container(char open, char close, Iterator<T> items, StringBuilder out, int depth,
            ItemWriter<? super T> writer) {
        out.append(open);
        if (!items.hasNext()) {
            out.append(close);
            return;
        }
        boolean first = true;
        while (items.hasNext()) {
            out.append(first ? "" : itemSeparator);
            newline(out, depth + 1);
            writer.write(items.next(), depth + 1);
            first = false;
        }
        newline(out, depth);
        out.append(close);
    }

    private void newline(StringBuilder out, int depth) {
        if (indent != null) {
            out.append('\n').append(indent.repeat(depth));
        }
    }

    /** json.dumps turns non-string keys into strings: True -> "true", None -> "null", 1 -> "1". */
    private static String key(Object key) {
        if (JinjaPython.isNone(key)) {
            return "null";
        }
        if (key instanceof Boolean b) {
            return b ? "true" : "false";
        }
        return JinjaPython.str(key);
    }

    private static String number(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        return JinjaPython.floatRepr(d);
    }

    private void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                        out.append(String.format("\\u%04x", (int) c)); // UTF-16 units: surrogate pairs as Python writes them
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
