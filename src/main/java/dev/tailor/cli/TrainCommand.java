package dev.tailor.cli;

import picocli.CommandLine.Command;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Fine-tune a model: sft (supervised, LoRA/QLoRA).",
        subcommands = {TrainSftCommand.class})
final class TrainCommand {}
