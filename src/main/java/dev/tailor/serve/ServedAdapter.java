package dev.tailor.serve;

import java.nio.file.Path;
import java.time.Instant;

/**
 * An adapter the server serves: its name (the {@code model} clients send), where it was loaded
 * from, its LoRA rank (the largest of its modules) and when it was loaded.
 */
public record ServedAdapter(String name, Path directory, int rank, Instant created) {}
