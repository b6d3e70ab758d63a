package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.TailorException;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * AdamW against libtorch's own torch::optim::AdamW and against the update written out in Java
 * doubles, plus the state round trip a checkpoint relies on.
 */
class AdamWTest {
    static final long[][] SHAPES = {{3, 4}, {5}, {2, 3, 2}};
    static final int STEPS = 10;

    @BeforeAll
    static void engine() {
        Engine.ensureConfigured();
    }

    /** A large eps makes its placement (after the bias-corrected sqrt) visible; small gradients make eps matter. */
    @ParameterizedTest
    @CsvSource({"0.9, 0.999, 1e-8, 0.01", "0.8, 0.95, 1e-3, 0.1", "0.9, 0.99, 1e-6, 0.0"})
    void matchesLibtorchAdamWWithAChangingLearningRate(double beta1, double beta2, double eps, double weightDecay) {
        try (PointerScope scope = new PointerScope()) {
            Random random = new Random(7);
            Map<String, Tensor> ours = new LinkedHashMap<>();
            TensorVector theirs = new TensorVector();
            for (int i = 0; i < SHAPES.length; i++) {
                float[] init = gaussians(random, numel(SHAPES[i]), 1.0);
                ours.put("p" + i, leaf(init, SHAPES[i]));
                theirs.push_back(leaf(init, SHAPES[i]));
            }
            AdamWOptions options = new AdamWOptions(1e-2);
            setBetas(options, beta1, beta2);
            options.eps().put(eps);
            options.weight_decay().put(weightDecay);
            org.bytedeco.pytorch.AdamW reference = new org.bytedeco.pytorch.AdamW(theirs, options);
            try (AdamW adamW = new AdamW(ours, beta1, beta2, eps, weightDecay)) {
                for (int step = 0; step < STEPS; step++) {
                    double lr = 0.05 * (1 + step % 4) / 4; // changes every step
                    List<float[]> grads = randomGrads(random, step);
                    int i = 0;
                    for (Tensor p : ours.values()) {
                        backward(p, grads.get(i++));
                    }
                    for (i = 0; i < SHAPES.length; i++) {
                        backward(theirs.get(i), grads.get(i));
                    }
                    adamW.step(lr);
                    reference.param_groups().get(0).options().set_lr(lr);
                    reference.step();
                    assertTrue(GradMode.is_enabled(), "step must restore grad mode");
                    adamW.zeroGrad();
                    reference.zero_grad();
                    i = 0;
                    for (Tensor p : ours.values()) {
                        assertClose(Tensors.toFloats(theirs.get(i++)), Tensors.toFloats(p), 1e-6, "step " + step);
                    }
                }
                assertEquals(STEPS, adamW.steps());
            }
        }
    }

    /** The update in plain Java doubles, straight from the torch.optim.AdamW documentation. */
    @Test
    void matchesTheAlgorithmWrittenOutInDoubles() {
        double beta1 = 0.85;
        double beta2 = 0.97;
        double eps = 1e-3;
        double weightDecay = 0.2;
        try (PointerScope scope = new PointerScope()) {
            Random random = new Random(11);
            float[] init = gaussians(random, 12, 1.0);
            double[] theta = toDoubles(init);
            double[] m = new double[theta.length];
            double[] v = new double[theta.length];
            Tensor p = leaf(init, 3, 4);
            try (AdamW adamW = new AdamW(Map.of("w", p), beta1, beta2, eps, weightDecay)) {
                for (int t = 1; t <= STEPS; t++) {
                    double lr = 0.01 * t;
                    float[] g = gaussians(random, 12, t % 2 == 0 ? 0.01 : 1.0);
                    backward(p, g);
                    adamW.step(lr);
                    adamW.zeroGrad();
                    for (int j = 0; j < theta.length; j++) {
                        theta[j] *= 1 - lr * weightDecay;
                        m[j] = beta1 * m[j] + (1 - beta1) * g[j];
                        v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j];
                        double mHat = m[j] / (1 - Math.pow(beta1, t));
                        double vHat = v[j] / (1 - Math.pow(beta2, t));
                        theta[j] -= lr * mHat / (Math.sqrt(vHat) + eps);
                    }
                    assertClose(theta, Tensors.toFloats(p), 2e-6, "step " + t);
                }
            }
        }
    }

    @Test
    void savedStateReproducesTheNextStepExactly() {
        try (PointerScope scope = new PointerScope()) {
            Random random = new Random(3);
            Map<String, Tensor> original = new LinkedHashMap<>();
            for (int i = 0; i < SHAPES.length; i++) {
                original.put("p" + i, leaf(gaussians(random, numel(SHAPES[i]), 1.0), SHAPES[i]));
            }
            try (AdamW first = new AdamW(original, 0.9, 0.999, 1e-8, 0.01)) {
                for (int step = 0; step < 3; step++) {
                    stepWith(first, original, randomGrads(random, step), 1e-2);
                }
                Map<String, Tensor> saved = new LinkedHashMap<>();
                first.state().forEach((name, t) -> saved.put(name, t.clone()));
                assertEquals(List.of("p0.exp_avg", "p0.exp_avg_sq", "p1.exp_avg", "p1.exp_avg_sq", "p2.exp_avg", "p2.exp_avg_sq"),
                        List.copyOf(saved.keySet()));

                Map<String, Tensor> resumed = new LinkedHashMap<>();
                original.forEach((name, t) -> resumed.put(name, leaf(Tensors.toFloats(t), Tensors.shape(t))));
                try (AdamW second = new AdamW(resumed, 0.9, 0.999, 1e-8, 0.01)) {
                    second.load(saved, first.steps());
                    assertEquals(3, second.steps());
                    List<float[]> grads = randomGrads(random, 3);
                    stepWith(first, original, grads, 5e-3);
                    stepWith(second, resumed, grads, 5e-3);
                    for (String name : original.keySet()) {
                        assertArrayEquals(Tensors.toFloats(original.get(name)), Tensors.toFloats(resumed.get(name)), name);
                    }
                    for (String name : saved.keySet()) {
                        assertArrayEquals(Tensors.toFloats(first.state().get(name)), Tensors.toFloats(second.state().get(name)), name);
                    }
                }
            }
        }
    }

    @Test
    void loadRejectsMissingExtraAndMisshapenTensorsAndChangesNothing() {
        try (PointerScope scope = new PointerScope()) {
            Tensor p = leaf(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            try (AdamW adamW = new AdamW(Map.of("w", p), 0.9, 0.999, 1e-8, 0.0)) {
                Tensor good = Tensors.fromFloats(new float[] {1, 1, 1, 1, 1, 1}, 2, 3);
                Map<String, Tensor> missing = Map.of("w.exp_avg", good);
                Map<String, Tensor> extra = Map.of("w.exp_avg", good, "w.exp_avg_sq", good, "v.exp_avg", good);
                Map<String, Tensor> misshapen = Map.of("w.exp_avg", good, "w.exp_avg_sq", good.reshape(3, 2));
                Map<String, Tensor> renamed = Map.of("w.exp_avg", good, "w.second_moment", good);
                assertTrue(assertThrows(TailorException.class, () -> adamW.load(missing, 1)).getMessage().contains("w.exp_avg_sq"));
                assertTrue(assertThrows(TailorException.class, () -> adamW.load(extra, 1)).getMessage().contains("v.exp_avg"));
                assertTrue(assertThrows(TailorException.class, () -> adamW.load(misshapen, 1)).getMessage().contains("[3, 2]"));
                assertThrows(TailorException.class, () -> adamW.load(renamed, 1));
                assertEquals(0, adamW.steps());
                assertArrayEquals(new float[6], Tensors.toFloats(adamW.state().get("w.exp_avg")));
            }
        }
    }

    @Test
    void parametersWithoutAGradientAreLeftAloneAndZeroGradClearsGradients() {
        try (PointerScope scope = new PointerScope()) {
            Tensor trained = leaf(new float[] {1, 2}, 2);
            Tensor frozen = leaf(new float[] {3, 4}, 2);
            Map<String, Tensor> params = new LinkedHashMap<>();
            params.put("trained", trained);
            params.put("frozen", frozen);
            try (AdamW adamW = new AdamW(params, 0.9, 0.999, 1e-8, 0.1)) {
                backward(trained, new float[] {0.5f, -0.5f});
                adamW.step(0.1);
                assertArrayEquals(new float[] {3, 4}, Tensors.toFloats(frozen));
                assertArrayEquals(new float[2], Tensors.toFloats(adamW.state().get("frozen.exp_avg_sq")));
                // first step: m_hat = g, v_hat = g^2, so the update is lr * sign(g) (eps aside) after decay
                float[] got = Tensors.toFloats(trained);
                assertEquals(1 * (1 - 0.1 * 0.1) - 0.1, got[0], 1e-6);
                assertEquals(2 * (1 - 0.1 * 0.1) + 0.1, got[1], 1e-6);
                assertTrue(trained.grad().defined());
                adamW.zeroGrad();
                assertFalse(trained.grad().defined());
                assertFalse(frozen.grad().defined());
            }
        }
    }

    @Test
    void rejectsHyperparametersOutOfRange() {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> params = Map.of("w", leaf(new float[] {1}, 1));
            assertTrue(assertThrows(TailorException.class, () -> new AdamW(params, 1.0, 0.999, 1e-8, 0)).getMessage().contains("adam_beta1"));
            assertTrue(assertThrows(TailorException.class, () -> new AdamW(params, 0.9, -0.1, 1e-8, 0)).getMessage().contains("adam_beta2"));
            assertThrows(TailorException.class, () -> new AdamW(params, 0.9, 0.999, -1, 0));
            assertThrows(TailorException.class, () -> new AdamW(params, 0.9, 0.999, 1e-8, Double.NaN));
        }
    }

    /** libtorch keeps betas in a std::tuple; find its element order instead of assuming it. */
    private static void setBetas(AdamWOptions options, double beta1, double beta2) {
        boolean firstIsBeta1 = options.betas().get(0) == 0.9 && options.betas().get(1) == 0.999;
        boolean reversed = options.betas().get(0) == 0.999 && options.betas().get(1) == 0.9;
        assertTrue(firstIsBeta1 || reversed, "unexpected default betas layout");
        options.betas().put(firstIsBeta1 ? 0 : 1, beta1);
        options.betas().put(firstIsBeta1 ? 1 : 0, beta2);
    }

    private static void stepWith(AdamW adamW, Map<String, Tensor> params, List<float[]> grads, double lr) {
        int i = 0;
        for (Tensor p : params.values()) {
            backward(p, grads.get(i++));
        }
        adamW.step(lr);
        adamW.zeroGrad();
    }

    /** Accumulates exactly {@code grad} into p.grad through autograd: d/dp sum(p * g) = g. */
    private static void backward(Tensor p, float[] grad) {
        p.mul(Tensors.fromFloats(grad, Tensors.shape(p))).sum().backward();
    }

    private static List<float[]> randomGrads(Random random, int step) {
        double scale = step % 3 == 0 ? 0.003 : 1.0; // small gradients make eps visible
        float[][] grads = new float[SHAPES.length][];
        for (int i = 0; i < SHAPES.length; i++) {
            grads[i] = gaussians(random, numel(SHAPES[i]), scale);
        }
        return List.of(grads);
    }

    static Tensor leaf(float[] values, long... shape) {
        return Tensors.fromFloats(values, shape).set_requires_grad(true);
    }

    static float[] gaussians(Random random, int n, double scale) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (random.nextGaussian() * scale);
        }
        return out;
    }

    private static int numel(long[] shape) {
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        return n;
    }

    private static double[] toDoubles(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    private static void assertClose(float[] want, float[] got, double tolerance, String where) {
        assertClose(toDoubles(want), got, tolerance, where);
    }

    private static void assertClose(double[] want, float[] got, double tolerance, String where) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance, where + ", element " + i);
        }
    }
}
