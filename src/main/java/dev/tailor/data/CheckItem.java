package dev.tailor.data;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One row of the data report's checklist: an item of the guide's data-quality checklist (or one of
 * the report's own: length, validation file, leakage), its status, the guide's advice for it (null
 * where the guide says nothing) and the evidence: numbers and example lines.
 */
public record CheckItem(String item, Status status, String guide, List<String> evidence) {
    /** ok: nothing found; warn: worth a look; fail: fix before training; skip: not checkable with the inputs given. */
    public enum Status {
        OK, WARN, FAIL, SKIP;

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("item", item);
        json.put("status", status.id());
        json.put("guide", guide);
        json.put("evidence", evidence);
        return json;
    }
}
