package dev.tailor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.DemoDataset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interrupting training, for real: a separate JVM gets a signal after its first checkpoint. It is
 * SIGTERM (kill, docker stop), which takes the same shutdown path as Ctrl-C's SIGINT: SIGINT
 * itself is ignored by processes started in the background of a non-interactive shell, as CI may.
 */
class InterruptTest {
    @TempDir
    Path tmp;

    @Test
    void anInterruptLeavesCompleteCheckpointsAndTheRunResumes() throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, CliRun.of("init-model", model.toString(), "--preset", "tiny").exitCode());
        DemoDataset.Files data = DemoDataset.write(tmp.resolve("data"), 5, 32, 4, 4);
        Path out = tmp.resolve("run");
        List<String> train = List.of("train", "sft", "--model", model.toString(), "--data", data.train().toString(),
                "--output", out.toString(), "--max-seq-len", "160", "--batch-size", "8", "--grad-accum", "4",
                "--max-steps", "60", "--save-strategy", "steps", "--save-steps", "2", "--save-total-limit", "2");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(train);
        Path log = tmp.resolve("log.txt");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!hasCheckpoint(out) && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(p.isAlive(), "training ended before it could be interrupted:\n" + Files.readString(log));
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "no exit after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
        String printed = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(143, p.exitValue(), printed); // 128 + SIGTERM, as shells report it
        assertTrue(printed.contains("interrupted at step") && printed.contains("--resume"), printed);
        try (Stream<Path> dirs = Files.list(out)) {
            for (Path d : dirs.filter(d -> d.getFileName().toString().startsWith("checkpoint-")).toList()) {
                for (String f : List.of("trainer_state.json", "adapter_model.safetensors", "optimizer.safetensors")) {
                    assertTrue(Files.isRegularFile(d.resolve(f)), d + " is incomplete: no " + f);
                }
            }
        }
        List<String> resume = new ArrayList<>(train);
        resume.add("--resume");
        CliRun resumed = CliRun.of(resume.toArray(String[]::new));
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming from " + out.resolve("checkpoint-")), resumed.out());
        assertTrue(Files.isDirectory(out.resolve("checkpoint-60")));
    }

    /** Whether a first checkpoint is complete; the run then has most of its 60 steps (seconds) ahead of it. */
    private static boolean hasCheckpoint(Path out) throws java.io.IOException {
        if (!Files.isDirectory(out)) {
            return false;
        }
        try (Stream<Path> dirs = Files.list(out)) {
            return dirs.anyMatch(d -> d.getFileName().toString().startsWith("checkpoint-"));
        }
    }
}
