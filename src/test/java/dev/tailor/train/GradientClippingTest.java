package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.tailor.tensor.Engine;
import dev.tailor.tensor.Tensors;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** clip_grad_norm_ against the norm and the scaling written out in Java doubles. */
class GradientClippingTest {
    static final long[][] SHAPES = {{4, 3}, {7}, {2, 2, 5}};

    @BeforeAll
    static void engine() {
        Engine.ensureConfigured();
    }

    @Test
    void clipsToMaxNormWhenTheTotalNormIsLarger() {
        try (PointerScope scope = new PointerScope()) {
            float[][] grads = randomGrads(new Random(1), 1.0);
            List<Tensor> params = paramsWithGrads(grads);
            double want = norm(grads); // about 5.8 for 39 unit gaussians
            double total = GradientClipping.clip(params, 1.0);
            assertEquals(want, total, 1e-5 * want);
            double coefficient = 1.0 / (want + 1e-6);
            for (int i = 0; i < grads.length; i++) {
                float[] got = Tensors.toFloats(params.get(i).grad());
                for (int j = 0; j < got.length; j++) {
                    assertEquals(grads[i][j] * coefficient, got[j], 1e-6, "tensor " + i + " element " + j);
                }
            }
            assertEquals(1.0, norm(new float[][] {Tensors.toFloats(params.get(0).grad()), Tensors.toFloats(params.get(1).grad()),
                    Tensors.toFloats(params.get(2).grad())}), 1e-5);
        }
    }

    @Test
    void leavesGradientsAloneBelowMaxNormAndWhenMaxNormIsZero() {
        try (PointerScope scope = new PointerScope()) {
            float[][] grads = randomGrads(new Random(2), 0.1);
            List<Tensor> params = paramsWithGrads(grads);
            double want = norm(grads); // about 0.6
            assertEquals(want, GradientClipping.clip(params, 1.0), 1e-5 * want);
            assertEquals(want, GradientClipping.clip(params, 0.0), 1e-5 * want);
            assertEquals(want, GradientClipping.clip(params, -1.0), 1e-5 * want);
            for (int i = 0; i < grads.length; i++) {
                assertArrayEquals(grads[i], Tensors.toFloats(params.get(i).grad()));
            }
        }
    }

    @Test
    void skipsParametersWithoutGradients() {
        try (PointerScope scope = new PointerScope()) {
            Tensor withGrad = AdamWTest.leaf(new float[] {1, 1}, 2);
            withGrad.mul(Tensors.fromFloats(new float[] {3, 4}, 2)).sum().backward();
            Tensor without = AdamWTest.leaf(new float[] {1, 1}, 2);
            assertEquals(5.0, GradientClipping.clip(List.of(withGrad, without), 2.5), 1e-6); // sqrt(9 + 16)
            float[] got = Tensors.toFloats(withGrad.grad());
            assertEquals(3 * 2.5 / (5 + 1e-6), got[0], 1e-6);
            assertEquals(4 * 2.5 / (5 + 1e-6), got[1], 1e-6);
            assertFalse(without.grad().defined());
            assertEquals(0.0, GradientClipping.clip(List.of(without), 1.0));
        }
    }

    private static float[][] randomGrads(Random random, double scale) {
        float[][] grads = new float[SHAPES.length][];
        for (int i = 0; i < SHAPES.length; i++) {
            int n = 1;
            for (long d : SHAPES[i]) {
                n *= (int) d;
            }
            grads[i] = AdamWTest.gaussians(random, n, scale);
        }
        return grads;
    }

    /** Leaf parameters whose .grad is exactly the given values (d/dp sum(p * g) = g). */
    private static List<Tensor> paramsWithGrads(float[][] grads) {
        Tensor[] params = new Tensor[grads.length];
        for (int i = 0; i < grads.length; i++) {
            params[i] = AdamWTest.leaf(new float[grads[i].length], SHAPES[i]);
            params[i].mul(Tensors.fromFloats(grads[i], SHAPES[i])).sum().backward();
        }
        return List.of(params);
    }

    private static double norm(float[][] tensors) {
        double sum = 0;
        for (float[] t : tensors) {
            for (float x : t) {
                sum += (double) x * x;
            }
        }
        return Math.sqrt(sum);
    }
}
