package dev.tailor.cli;

import picocli.CommandLine.Command;

@Command(name = "data", mixinStandardHelpOptions = true,
        description = "Check and look at training data before spending compute on it.",
        subcommands = {DataValidateCommand.class, DataInspectCommand.class, DataSplitCommand.class, DataConvertCommand.class,
                DataDedupeCommand.class, DataEstimateCommand.class, DataReportCommand.class})
final class DataCommand {}
