package dev.tailor.cli;

import dev.tailor.TailorException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tailor} command line: one subcommand per job, errors as one line and a non-zero exit. */
@Command(name = "tailor", mixinStandardHelpOptions = true, version = "tailor 0.1.0",
        description = "Fine-tune, evaluate and serve open LLMs from the JVM.",
        subcommands = {InitModelCommand.class, GenerateCommand.class, ChatCommand.class, LogprobsCommand.class,
                ChatTemplateCommand.class, DataCommand.class, DemoCommand.class, TrainCommand.class, MergeCommand.class, ServeCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    /** User errors (bad file, flag or input). */
    static final int EXIT_USER_ERROR = 1;
    /** Bugs and environment failures: these print a stack trace. */
    static final int EXIT_INTERNAL_ERROR = 3;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> report(e, commandLine.getErr()));
        cli.setOverwrittenOptionsAllowed(true); // --config values first, then the command line's own
        String[] expanded;
        try {
            expanded = ConfigFile.expand(cli, args);
        } catch (TailorException e) {
            return report(e, cli.getErr());
        }
        return cli.execute(expanded);
    }

    private static int report(Exception e, PrintWriter err) {
        Throwable cause = e;
        while (!(cause instanceof TailorException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        if (cause instanceof TailorException) {
            err.println("error: " + cause.getMessage());
            err.flush();
            return EXIT_USER_ERROR;
        }
        if (e instanceof java.io.UncheckedIOException) {
            err.println("error: " + e.getMessage());
            err.flush();
            return EXIT_USER_ERROR;
        }
        e.printStackTrace(err);
        err.flush();
        return EXIT_INTERNAL_ERROR;
    }
}
