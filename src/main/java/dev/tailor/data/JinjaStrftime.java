package dev.tailor.data;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.time.temporal.ChronoField;
import java.time.temporal.IsoFields;
import java.util.Locale;

/** Python's datetime.strftime on a naive local time, as glibc formats it in the C locale. */
final class JinjaStrftime {
    private JinjaStrftime() {}

    static String format(LocalDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            char directive = format.charAt(++i);
            boolean unpadded = directive == '-' && i + 1 < format.length(); // glibc's %-d: no padding
            if (unpadded) {
                directive = format.charAt(++i);
            }
            String field = field(t, directive);
            if (field == null) {
                out.append('%').append(unpadded ? "-" : "").append(directive);
            } else {
                out.append(unpadded ? stripPadding(field) : field);
            }
        }
        return out.toString();
    }

    private static String field(LocalDateTime t, char directive) {
        int hour12 = t.getHour() % 12 == 0 ? 12 : t.getHour() % 12;
        return switch (directive) {
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'c' -> format(t, "%a %b %e %H:%M:%S %Y");
            case 'C' -> two(t.getYear() / 100);
            case 'd' -> two(t.getDayOfMonth());
            case 'D', 'x' -> format(t, "%m/%d/%y");
            case 'e' -> String.format("%2d", t.getDayOfMonth());
            case 'f' -> String.format("%06d", t.getNano() / 1000);
            case 'F' -> format(t, "%Y-%m-%d");
            case 'G' -> String.valueOf(t.get(IsoFields.WEEK_BASED_YEAR));
            case 'H' -> two(t.getHour());
            case 'I' -> two(hour12);
            case 'j' -> String.format("%03d", t.getDayOfYear());
            case 'k' -> String.format("%2d", t.getHour());
            case 'l' -> String.format("%2d", hour12);
            case 'm' -> two(t.getMonthValue());
            case 'M' -> two(t.getMinute());
            case 'n' -> "\n";
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'r' -> format(t, "%I:%M:%S %p");
            case 'R' -> format(t, "%H:%M");
            case 'S' -> two(t.getSecond());
            case 't' -> "\t";
            case 'T', 'X' -> format(t, "%H:%M:%S");
            case 'u' -> String.valueOf(t.getDayOfWeek().getValue());
            case 'U' -> two((t.getDayOfYear() + 6 - t.getDayOfWeek().getValue() % 7) / 7);
            case 'V' -> two(t.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR));
            case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
            case 'W' -> two((t.getDayOfYear() + 6 - (t.getDayOfWeek().getValue() + 6) % 7) / 7);
            case 'y' -> two(t.getYear() % 100);
            case 'Y' -> String.valueOf(t.get(ChronoField.YEAR));
            case 'z', 'Z' -> ""; // a naive datetime has no zone
            case '%' -> "%";
            default -> null;
        };
    }

    private static String two(int value) {
        return String.format("%02d", value);
    }

    private static String stripPadding(String field) {
        String stripped = field.replaceFirst("^[0 ]+(?=.)", "");
        return stripped.isEmpty() ? field : stripped;
    }
}
