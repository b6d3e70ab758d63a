package dev.tailor.train;

import dev.tailor.TailorException;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Tensors;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * AdamW exactly as {@code torch.optim.AdamW} computes it: decoupled weight decay
 * ({@code p *= 1 - lr * wd}), bias-corrected moments, and eps added after the square root of the
 * bias-corrected second moment. Hand-written rather than libtorch's {@code torch::optim::AdamW}
 * because checkpoints must save and restore its state ({@code exp_avg}, {@code exp_avg_sq}, the
 * step count) as plain named tensors, which the Bytedeco bindings do not expose for the built-in
 * optimizer.
 *
 * <p>Parameters are fp32 leaf tensors that require grad and stay owned by the caller; the state
 * tensors are fp32 and owned by this object. Parameters whose grad is undefined are skipped in a
 * step. The bias correction uses the optimizer's own step count, which equals torch's per-parameter
 * count whenever every parameter receives a gradient every step (as in LoRA training).
 */
public final class AdamW implements AutoCloseable {
    private final Map<String, Tensor> parameters;
    private final Map<String, Tensor> expAvg = new LinkedHashMap<>();
    private final Map<String, Tensor> expAvgSq = new LinkedHashMap<>();
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private long steps;
    private boolean closed;

    public AdamW(Map<String, Tensor> parameters, double beta1, double beta2, double eps, double weightDecay) {
        requireInRange("adam_beta1", beta1, 0, 1);
        requireInRange("adam_beta2", beta2, 0, 1);
        if (!(eps >= 0) || Double.isInfinite(eps)) {
            throw new TailorException("adam_epsilon must be a finite number >= 0, got " + eps + "; use e.g. 1e-8");
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new TailorException("weight_decay must be a finite number >= 0, got " + weightDecay + "; use e.g. 0.0 or 0.01");
        }
        for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
            Tensor p = e.getValue();
            if (Tensors.dtype(p) != DType.F32 || !p.requires_grad() || !p.is_leaf()) {
                throw new IllegalArgumentException("AdamW parameter " + e.getKey() + " must be an fp32 leaf tensor that requires grad");
            }
        }
        this.parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : this.parameters.entrySet()) {
                expAvg.put(e.getKey(), Tensors.keep(torch.zeros_like(e.getValue())));
                expAvgSq.put(e.getKey(), Tensors.keep(torch.zeros_like(e.getValue())));
            }
        }
    }

    private static void requireInRange(String name, double value, double from, double below) {
        if (!(value >= from && value < below)) {
            throw new TailorException(name + " must be in [" + from + ", " + below + "), got " + value + "; the usual value is 0.9 (beta1) or 0.999 (beta2)");
        }
    }

    /** One update of every parameter that has a gradient, with learning rate {@code lr}. */
    public void step(double lr) {
        ensureOpen();
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
        }
        steps++;
        // the scalar arithmetic is done in doubles, as torch's single-tensor path does in Python floats
        double biasCorrection1 = 1 - Math.pow(beta1, steps);
        double biasCorrection2Sqrt = Math.sqrt(1 - Math.pow(beta2, steps));
        double stepSize = lr / biasCorrection1;
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : parameters.entrySet()) {
                Tensor p = e.getValue();
                Tensor grad = p.grad();
                if (!grad.defined()) {
                    continue;
                }
                if (weightDecay != 0) {
                    p.mul_(Tensors.scalar(1 - lr * weightDecay));
                }
                Tensor m = expAvg.get(e.getKey());
                Tensor v = expAvgSq.get(e.getKey());
                m.lerp_(grad, Tensors.scalar(1 - beta1));
                v.mul_(Tensors.scalar(beta2)).addcmul_(grad, grad, Tensors.scalar(1 - beta2));
                Tensor denom = v.sqrt().div_(Tensors.scalar(biasCorrection2Sqrt)).add_(Tensors.scalar(eps));
                p.addcdiv_(m, denom, Tensors.scalar(-stepSize));
            }
        }
    }

    /** Drops every parameter's gradient (torch's {@code zero_grad(set_to_none=True)}). */
    public void zeroGrad() {
        ensureOpen();
        for (Tensor p : parameters.values()) {
            Tensor grad = p.mutable_grad(); // a reference to the parameter's own grad slot
            if (grad.defined()) {
                grad.reset();
            }
        }
    }

    /** Number of steps taken (restored by {@link #load}). */
    public long steps() {
        return steps;
    }

    /**
     * The optimizer state for a checkpoint: {@code NAME.exp_avg} and {@code NAME.exp_avg_sq} for
     * every parameter, in parameter order. The tensors are this object's own (do not close them)
     * and change with every step: save them before the next one.
     */
    public Map<String, Tensor> state() {
        ensureOpen();
        Map<String, Tensor> state = new LinkedHashMap<>();
        for (String name : parameters.keySet()) {
            state.put(name + ".exp_avg", expAvg.get(name));
            state.put(name + ".exp_avg_sq", expAvgSq.get(name));
        }
        return Collections.unmodifiableMap(state);
    }

    /**
     * Restores a state saved from {@link #state()} and its step count. Every name and shape is
     * checked before any value is copied, so a mismatched checkpoint leaves this optimizer unchanged.
     */
    public void load(Map<String, Tensor> state, long steps) {
        ensureOpen();
        if (steps < 0) {
            throw new TailorException("optimizer state: step count must be >= 0, got " + steps + "; the checkpoint is damaged, resume from another one");
        }
        Map<String, Tensor> own = state();
        for (String name : state.keySet()) {
            if (!own.containsKey(name)) {
                throw new TailorException("optimizer state: unexpected tensor '" + name
                        + "' (no such trainable parameter); resume with the same adapter configuration the checkpoint was trained with");
            }
        }
        for (Map.Entry<String, Tensor> e : own.entrySet()) {
            Tensor saved = state.get(e.getKey());
            if (saved == null) {
                throw new TailorException("optimizer state: tensor '" + e.getKey()
                        + "' is missing; resume with the same adapter configuration the checkpoint was trained with");
            }
            long[] want = Tensors.shape(e.getValue());
            long[] got = Tensors.shape(saved);
            if (!Arrays.equals(want, got)) {
                throw new TailorException("optimizer state: tensor '" + e.getKey() + "' has shape " + Arrays.toString(got)
                        + " but the parameter has shape " + Arrays.toString(want)
                        + "; resume with the same adapter configuration the checkpoint was trained with");
            }
        }
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : own.entrySet()) {
                e.getValue().copy_(state.get(e.getKey())); // converts dtype and device as needed
            }
        }
        this.steps = steps;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("AdamW is closed");
        }
    }

    /** Frees the state tensors; the parameters belong to the caller and stay untouched. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        expAvg.values().forEach(Tensor::close);
        expAvgSq.values().forEach(Tensor::close);
    }
}
