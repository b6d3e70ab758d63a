package dev.tailor.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;

/**
 * Checks one image reference of a vision example: a data: URL or a local file (relative to the
 * data file's folder) must hold a JPEG, PNG or WEBP image of at most {@link #MAX_BYTES} that
 * decodes (WEBP only by its RIFF header where ImageIO has no WEBP reader). Remote URLs cannot be
 * fetched offline and are reported with the code {@link #NOT_FETCHABLE}, which the validator turns
 * into a warning rather than an error.
 */
final class ImageCheck {
    /** OpenAI's limit per image for vision fine-tuning. */
    static final long MAX_BYTES = 10L * 1024 * 1024;
    static final String NOT_FETCHABLE = "image_not_fetchable";
    static final String WEBP_NOT_DECODED = "image_webp_not_decoded";

    private final Path base;

    /** Whether a problem code only means "not checked here" rather than "unusable". */
    static boolean isWarning(String code) {
        return code.equals(NOT_FETCHABLE) || code.equals(WEBP_NOT_DECODED);
    }

    ImageCheck(Path base) {
        this.base = base;
    }

    /** The problem with the image at url (where names it in the example), or null when it is fine. */
    DataIssue check(String url, String where) {
        if (url.startsWith("http://") || url.startsWith("https://")) {
            return issue(NOT_FETCHABLE, where + ": " + abbreviate(url) + " cannot be fetched offline, so it was not checked",
                    "embed it as a data: URL or a local file to have it checked");
        }
        byte[] bytes;
        if (url.startsWith("data:")) {
            int comma = url.indexOf(',');
            if (comma < 0 || !url.substring(0, comma).endsWith(";base64")) {
                return issue("image_undecodable", where + ": a data: URL must be data:image/...;base64,...", "encode the image in base64");
            }
            if ((url.length() - comma - 1) / 4L * 3 > MAX_BYTES + 3) {
                return tooLarge(where, (url.length() - comma - 1) / 4L * 3);
            }
            try {
                bytes = Base64.getMimeDecoder().decode(url.substring(comma + 1).getBytes(StandardCharsets.US_ASCII));
            } catch (IllegalArgumentException e) {
                return issue("image_undecodable", where + ": the data: URL is not valid base64", "re-encode the image");
            }
        } else {
            Path file;
            try {
                file = base == null ? Path.of(url.replaceFirst("^file://", "")) : base.resolve(url.replaceFirst("^file://", ""));
            } catch (InvalidPathException e) {
                return issue("image_not_found", where + ": " + abbreviate(url) + " is not a file path or URL", "give a data: URL or a local path");
            }
            try {
                if (!Files.isRegularFile(file)) {
                    return issue("image_not_found", where + ": image file " + file + " not found", "check the path (relative to the data file)");
                }
                if (Files.size(file) > MAX_BYTES) {
                    return tooLarge(where, Files.size(file));
                }
                bytes = Files.readAllBytes(file);
            } catch (IOException e) {
                return issue("image_not_found", where + ": cannot read " + file + ": " + e.getMessage(), "check the file");
            }
        }
        if (bytes.length > MAX_BYTES) {
            return tooLarge(where, bytes.length);
        }
        return decode(bytes, where);
    }

    private static DataIssue decode(byte[] bytes, String where) {
        BufferedImage image = null;
        try {
            image = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            // a corrupt image: reported below like one ImageIO does not recognise
        }
        if (image != null) {
            return null;
        }
        if (isWebp(bytes)) {
            return issue(WEBP_NOT_DECODED, where + ": a WEBP image (valid RIFF/WEBP header) that cannot be decoded here",
                    "convert it to PNG or JPEG to have it fully checked");
        }
        return issue("image_undecodable", where + ": the image does not decode as JPEG, PNG or WEBP", "re-encode it as PNG or JPEG");
    }

    private static boolean isWebp(byte[] b) {
        return b.length >= 16 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F'
                && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P'
                && b[12] == 'V' && b[13] == 'P' && b[14] == '8';
    }

    private static DataIssue tooLarge(String where, long bytes) {
        return issue("image_too_large", where + ": the image has " + bytes + " bytes, over the " + MAX_BYTES + "-byte limit",
                "downscale or recompress it");
    }

    private static String abbreviate(String url) {
        String line = url.replaceAll("\\s+", " ");
        return line.length() <= 80 ? line : line.substring(0, 77) + "...";
    }

    private static DataIssue issue(String code, String problem, String fix) {
        return new DataIssue(null, code, problem + "; " + fix);
    }
}
