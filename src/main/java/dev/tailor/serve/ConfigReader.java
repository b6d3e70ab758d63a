package dev.tailor.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.TailorException;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * The field checks shared by the readers of serve.yaml and of an experiment: every problem is one
 * line "SOURCE: field: problem; fix".
 */
class ConfigReader {
    /** Where the fields come from (a file, or a file and the experiment's place in it). */
    final String source;

    ConfigReader(String source) {
        this.source = source;
    }

    final TailorException error(String message) {
        return new TailorException(source + ": " + message);
    }

    final String text(JsonNode node, String field) {
        if (node == null || node.isNull() || !node.isValueNode() || node.asText().isEmpty()) {
            throw error(field + ": missing; give a string");
        }
        return node.asText();
    }

    final void requireObject(JsonNode node, String what, String expected) {
        if (node == null || !node.isObject()) {
            throw error(what + ": must be " + expected);
        }
    }

    final void checkKeys(JsonNode node, Set<String> allowed, String prefix) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!allowed.contains(key)) {
                throw error(prefix + key + ": unknown key; allowed: " + String.join(", ", sorted(allowed)));
            }
        }
    }

    static List<String> sorted(Set<String> names) {
        return names.stream().sorted().toList();
    }
}
