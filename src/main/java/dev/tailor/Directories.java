package dev.tailor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Whole output directories (checkpoints, merged models, demo and benchmark runs) replaced and
 * removed by renames first, so a process killed at any moment leaves under each name either the
 * old complete directory or the new complete one, never a half-written or half-deleted one.
 */
public final class Directories {
    private Directories() {}

    /** Deletes a directory tree; nothing when it does not exist. */
    public static void deleteRecursively(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Renames {@code dir} to a hidden sibling, then deletes it. */
    public static void discard(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        deleteRecursively(moveAside(dir));
    }

    /** Moves the complete directory {@code finished} to {@code target}; a previous target is moved aside first and deleted last. */
    public static void replace(Path finished, Path target) {
        Path previous = Files.exists(target) ? moveAside(target) : null;
        try {
            Files.move(finished, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + finished + " to " + target + ": " + e.getMessage(), e);
        }
        deleteRecursively(previous);
    }

    private static Path moveAside(Path dir) {
        try {
            Path aside = Files.createTempDirectory(dir.toAbsolutePath().getParent(), "." + dir.getFileName() + ".old-");
            Files.move(dir, aside.resolve("old"), StandardCopyOption.ATOMIC_MOVE);
            return aside;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + dir + " aside: " + e.getMessage(), e);
        }
    }
}
