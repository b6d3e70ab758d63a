package dev.tailor.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Streams the records of a data file one at a time, never holding the file's text: JSONL (UTF-8,
 * optional BOM, CRLF, blank lines skipped, gzipped when the name ends in .gz) or, when the first
 * character is '[', one JSON array of records. Lines are split as bytes so that an encoding error
 * is reported on its own line and the lines after it are still read.
 */
final class JsonlSource {
    /** Trailing text after the object (two objects on one line) is an error, not silently dropped. */
    private static final ObjectReader LINE_READER = Json.MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    static final String ONE_PER_LINE = "each example must be one JSON object on one line";

    /** Receives each record with its 1-based line, or the problem that kept a line from being one. */
    interface Visitor {
        void record(int line, JsonNode node);

        void problem(int line, String code, String message);
    }

    private JsonlSource() {}

    /**
     * Reads the file and calls the visitor for every non-blank line (or array element).
     *
     * @return true when the file was a JSON array rather than JSONL
     * @throws TailorException when the file is missing or unreadable
     */
    static boolean read(Path file, Visitor visitor) {
        try (InputStream in = open(file)) {
            if (startsWithArray(in)) {
                readArray(in, visitor);
                return true;
            }
            readLines(in, visitor);
            return false;
        } catch (NoSuchFileException e) {
            throw new TailorException(file + ": file not found; check the path");
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read: " + e.getMessage() + "; check the file (a .gz file must be gzip)", e);
        }
    }

    private static InputStream open(Path file) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        try {
            return file.getFileName().toString().endsWith(".gz") ? new BufferedInputStream(new GZIPInputStream(in), 1 << 16) : in;
        } catch (IOException e) {
            in.close();
            throw e;
        }
    }

    /** Peeks past a BOM and whitespace (within the first 64 KiB) for '['. */
    private static boolean startsWithArray(InputStream in) throws IOException {
        in.mark(1 << 16);
        try {
            int b;
            int read = 0;
            while ((b = in.read()) >= 0 && read++ < (1 << 16) - 1) {
                if (b == 0xEF || b == 0xBB || b == 0xBF || Character.isWhitespace(b)) {
                    continue;
                }
                return b == '[';
            }
            return false;
        } finally {
            in.reset();
        }
    }

    private static void readArray(InputStream in, Visitor visitor) throws IOException {
        int line = 1;
        try (JsonParser parser = Json.MAPPER.createParser(in)) {
            parser.nextToken();
            JsonToken token;
            while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
                if (token == null) {
                    visitor.problem(line, "invalid_json", "the JSON array is not closed; end the file with ']' or write JSONL");
                    return;
                }
                line = parser.currentTokenLocation().getLineNr();
                JsonNode node = parser.readValueAsTree();
                visitor.record(line, node);
            }
            if (parser.nextToken() != null) {
                line = parser.currentTokenLocation().getLineNr();
                visitor.problem(line, "invalid_json", "text after the JSON array; write one array or JSONL");
            }
        } catch (JsonProcessingException e) {
            int at = e.getLocation() == null ? line : e.getLocation().getLineNr();
            visitor.problem(at, "invalid_json", "invalid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " ")
                    + "; fix the JSON array (or write one object per line)");
        }
    }

    private static void readLines(InputStream in, Visitor visitor) throws IOException {
        LineBytes bytes = new LineBytes();
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        byte[] buffer = new byte[1 << 16];
        int line = 0;
        int n;
        boolean pending = false;
        while ((n = in.read(buffer)) > 0) {
            int start = 0;
            for (int i = 0; i < n; i++) {
                if (buffer[i] == '\n') {
                    bytes.append(buffer, start, i - start);
                    visitLine(++line, bytes, utf8, visitor);
                    bytes.reset();
                    start = i + 1;
                }
            }
            bytes.append(buffer, start, n - start);
            pending = bytes.length > 0;
        }
        if (pending) {
            visitLine(++line, bytes, utf8, visitor);
        }
    }

    private static void visitLine(int line, LineBytes bytes, CharsetDecoder utf8, Visitor visitor) {
        String text;
        try {
            text = utf8.reset().decode(ByteBuffer.wrap(bytes.data, 0, bytes.length)).toString();
        } catch (CharacterCodingException e) {
            visitor.problem(line, "invalid_utf8", "not valid UTF-8; save the file as UTF-8");
            return;
        }
        if (line == 1 && text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        if (text.isBlank()) {
            return;
        }
        JsonNode node;
        try {
            node = LINE_READER.readTree(text);
        } catch (JsonProcessingException e) {
            int column = e.getLocation() == null ? 0 : e.getLocation().getColumnNr();
            visitor.problem(line, "invalid_json", "invalid JSON at column " + column + ": "
                    + e.getOriginalMessage().replaceAll("\\s+", " ") + "; " + ONE_PER_LINE);
            return;
        }
        visitor.record(line, node);
    }

    /** A growable byte array reused for every line. */
    private static final class LineBytes {
        byte[] data = new byte[1024];
        int length;

        void append(byte[] source, int from, int count) {
            if (length + count > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, length + count));
            }
            System.arraycopy(source, from, data, length, count);
            length += count;
        }

        void reset() {
            length = 0;
        }
    }
}
