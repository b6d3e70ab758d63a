package dev.tailor.train;

import dev.tailor.TailorException;
import java.util.List;

/**
 * The learning rate of every optimizer step, exactly as transformers' schedules compute it through
 * {@code LambdaLR} ({@code lr = peakLr * lambda(step)}): {@code linear} is
 * {@code get_linear_schedule_with_warmup}, {@code cosine} is {@code get_cosine_schedule_with_warmup}
 * with half a cycle, {@code constant} is {@code get_constant_schedule_with_warmup} (with no warmup it
 * equals transformers' plain {@code constant}). Warmup rises linearly from 0 at step 0.
 */
public record LrSchedule(String kind, double peakLr, int warmupSteps, int totalSteps) {
    /** The accepted values of {@link #kind}. */
    public static final List<String> KINDS = List.of("linear", "cosine", "constant");

    public LrSchedule {
        if (!KINDS.contains(kind)) {
            throw new TailorException("lr_scheduler_type '" + kind + "' is not supported; use one of " + String.join(", ", KINDS));
        }
        if (!(peakLr >= 0) || Double.isInfinite(peakLr)) {
            throw new TailorException("learning_rate must be a finite number >= 0, got " + peakLr + "; LoRA usually uses 1e-4 to 2e-4");
        }
        if (totalSteps < 1) {
            throw new TailorException("the training run has " + totalSteps + " optimizer steps; it needs at least 1: add examples or epochs, or lower the batch size");
        }
        if (warmupSteps < 0) {
            throw new TailorException("warmup steps must be >= 0, got " + warmupSteps);
        }
    }

    /**
     * A schedule whose warmup is {@code ceil(warmupRatio * totalSteps)} steps, as
     * transformers' {@code TrainingArguments.get_warmup_steps} computes it (in doubles, so that
     * 0.1 * 30 rounds up to 4 there and here alike).
     */
    public static LrSchedule of(String kind, double peakLr, double warmupRatio, int totalSteps) {
        if (!(warmupRatio >= 0 && warmupRatio <= 1)) {
            throw new TailorException("warmup_ratio must be in [0, 1], got " + warmupRatio + "; 0.03 to 0.1 is usual");
        }
        return new LrSchedule(kind, peakLr, (int) Math.ceil(totalSteps * warmupRatio), totalSteps);
    }

    /** The learning rate for optimizer step {@code step} (0-based). */
    public double lr(int step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        return peakLr * factor(step);
    }

    /** transformers' lr_lambda, written as its Python source computes it. */
    private double factor(int step) {
        if (step < warmupSteps) {
            return (double) step / Math.max(1, warmupSteps);
        }
        double decaySteps = Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case "linear" -> Math.max(0.0, (totalSteps - step) / decaySteps);
            case "cosine" -> {
                double progress = (step - warmupSteps) / decaySteps;
                yield Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
            }
            default -> 1.0; // constant
        };
    }
}
