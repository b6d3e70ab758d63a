package dev.tailor.cli;

import picocli.CommandLine.Command;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure speed and memory against this machine's own measured limits.",
        subcommands = {GenerateBenchmark.class, TrainBenchmark.class, ValidateBenchmark.class, ServeBenchmark.class})
final class BenchCommand {}
