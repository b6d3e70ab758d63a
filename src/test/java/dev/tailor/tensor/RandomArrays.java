package dev.tailor.tensor;

import java.util.Random;

/** Reproducible random inputs for the kernel tests. */
final class RandomArrays {
    private RandomArrays() {}

    /** n draws of a normal distribution with standard deviation {@code scale}. */
    static float[] gaussian(Random random, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }
}
