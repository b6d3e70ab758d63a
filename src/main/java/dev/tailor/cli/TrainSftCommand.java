package dev.tailor.cli;

import dev.tailor.tensor.Engine;
import dev.tailor.train.SftRecipe;
import dev.tailor.train.Trainer;
import dev.tailor.train.TrainingConfig;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "sft", mixinStandardHelpOptions = true,
        description = {"Supervised fine-tuning with LoRA (or QLoRA): writes a PEFT adapter that PEFT and vLLM load as it is.",
                "Options may also come from --config FILE.yaml (same names, e.g. lora_r: 8 or lora-r: 8); the command line wins."})
final class TrainSftCommand implements Callable<Integer> {
    @Mixin
    TrainingConfig config;

    @Option(names = "--resume", arity = "0..1", fallbackValue = SftRecipe.LATEST, paramLabel = "CHECKPOINT",
            description = "continue from a checkpoint-N directory (default: the newest in --output)")
    String resume;

    @Option(names = "--config", paramLabel = "FILE.yaml", description = "read options from a YAML file")
    Path configFile; // expanded by ConfigFile before parsing; declared for --help

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: all cores)")
    int threads;

    @Override
    public Integer call() {
        Engine.configure(threads);
        Progress progress = new Progress(config.output);
        Thread onInterrupt = new Thread(progress::interrupted, "tailor-interrupt");
        Runtime.getRuntime().addShutdownHook(onInterrupt);
        SftRecipe.Summary s;
        try {
            s = SftRecipe.run(config, resume, progress, line -> System.out.println(line));
        } finally {
            progress.close();
            Runtime.getRuntime().removeShutdownHook(onInterrupt);
        }
        System.out.printf(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f%n",
                s.trainableParameters(), s.totalParameters(), s.trainablePercent());
        Trainer.Result r = s.result();
        if (!Double.isNaN(r.bestValidLoss())) {
            System.out.printf(Locale.ROOT, "best validation loss %.4f at step %d%s; the adapter saved is that one%n",
                    r.bestValidLoss(), r.bestStep(), r.stoppedEarly() ? " (stopped early)" : "");
        }
        System.out.printf(Locale.ROOT, "%d steps, %,d trained tokens in %.1f s%n", r.steps(), r.trainedTokens(), r.seconds());
        System.out.println("adapter: " + s.adapterDir() + " (adapter_config.json, adapter_model.safetensors; metrics.jsonl, loss.png)");
        return 0;
    }

    /** A progress bar on a terminal, plain event lines otherwise (logs, CI). */
    private static final class Progress implements Trainer.Listener {
        private final boolean terminal = System.console() != null;
        private ProgressBar bar;
        private volatile int step;
        private volatile int total;
        private final Path output;

        Progress(Path output) {
            this.output = output;
        }

        @Override
        public void onStep(int step, int totalSteps, double loss, double seconds, long realTokens, long trainedTokens) {
            this.step = step;
            this.total = totalSteps;
            if (!terminal) {
                return;
            }
            if (bar == null) {
                bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(totalSteps).setStyle(ProgressBarStyle.ASCII)
                        .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
            }
            bar.stepTo(step);
            bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f %,.0f tok/s", loss, realTokens / seconds));
        }

        @Override
        public void onEvent(Map<String, Object> event) {
            StringBuilder line = new StringBuilder();
            event.forEach((k, v) -> line.append(line.length() == 0 ? "" : "  ").append(k).append(' ')
                    .append(v instanceof Double d ? String.format(Locale.ROOT, Math.abs(d) < 1e-3 && d != 0 ? "%.3e" : "%.4f", d) : v));
            if (bar != null) {
                System.err.print("\r\033[K"); // the bar redraws itself below the line
            }
            System.out.println(line);
        }

        /**
         * Ctrl-C: say where things stand. The checkpoint named is the newest complete one on disk (atomic
         * writes keep it whole), not the last one training reported: the signal may fall between the two.
         */
        void interrupted() {
            Path checkpoint = SftRecipe.latestCheckpoint(output).orElse(null);
            System.err.println();
            System.err.println("interrupted at step " + step + " of " + total + "; "
                    + (checkpoint == null ? "no checkpoint was saved yet" : "last complete checkpoint: " + checkpoint
                    + "; continue with the same command and --resume"));
        }

        void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }
}
