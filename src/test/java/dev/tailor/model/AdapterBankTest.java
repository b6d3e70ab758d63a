package dev.tailor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tailor.data.GeneratedModel;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mixed-adapter LoRA products of a bank (added in place to the base output) against each row's own {@code scaling * B A x} written out in Java doubles. */
class AdapterBankTest {
    @TempDir
    static Path tmp;
    static Model model;
    /** One fused product: qv has q and v but no k, so its rows must get zeros in k's block. */
    static final List<String> QKV = List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
            "model.layers.0.self_attn.v_proj");
    static Adapter qv;
    static Adapter all;

    @BeforeAll
    static void setUp() {
        GeneratedModel.write(tmp.resolve("tiny"), ModelPreset.TINY, 3, DType.F32);
        model = Model.load(tmp.resolve("tiny"), Device.CPU, null);
        // different ranks, scalings (alpha 16/r 4 = 4, alpha 3/r 2 = 1.5) and modules: q_proj is in both, o_proj only in all
        qv = randomized(Adapter.create(model, AdapterConfig.forTraining(4, 16, 0, List.of("q_proj", "v_proj"), false, "tiny"), 1), 1);
        all = randomized(Adapter.create(model, AdapterConfig.forTraining(2, 3, 0, List.of("all-linear"), false, "tiny"), 2), 2);
    }

    @AfterAll
    static void tearDown() {
        qv.close();
        all.close();
        model.close();
    }

    /** Non-zero B (created adapters start at B = 0, which would make every delta zero). */
    static Adapter randomized(Adapter adapter, long seed) {
        Random random = new Random(seed);
        try (PointerScope scope = new PointerScope()) {
            for (LoraWeights w : adapter.modules().values()) {
                float[] values = new float[(int) w.b().numel()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) random.nextGaussian();
                }
                w.b().detach().copy_(Tensors.fromFloats(values, w.b().size(0), w.b().size(1)));
            }
        }
        return adapter;
    }

    @Test
    void eachRowGetsItsOwnAdaptersProductAndRowsWithoutOneGetNothing() {
        List<Adapter> rows = Arrays.asList(all, null, qv, all, qv);
        try (AdapterBank bank = AdapterBank.of(List.of(qv, all), model.products()); PointerScope scope = new PointerScope()) {
            int[] index = bank.indexOf(rows);
            for (List<String> product : List.of(QKV, List.of("model.layers.1.self_attn.o_proj"),
                    List.of("model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj"))) {
                String first = product.get(0);
                long in = model.linearLayers().get(first).inFeatures();
                long out = product.stream().mapToLong(m -> model.linearLayers().get(m).outFeatures()).sum();
                float[] x = uniform(new Random(first.length()), (int) (rows.size() * in));
                float[] base = uniform(new Random(first.length() + 1), (int) (rows.size() * out));
                Tensor y = Tensors.fromFloats(base, rows.size(), 1, out);
                assertSame(y, bank.addTo(first, Tensors.fromFloats(x, rows.size(), 1, in), y, index), "in place");
                float[] values = Tensors.toFloats(y);
                for (int r = 0; r < rows.size(); r++) {
                    double[] want = expected(rows.get(r), product, Arrays.copyOfRange(x, (int) (r * in), (int) ((r + 1) * in)));
                    for (int o = 0; o < out; o++) {
                        double sum = base[(int) (r * out + o)] + want[o];
                        assertEquals(sum, values[(int) (r * out + o)], 1e-4 * (1 + Math.abs(sum)), first + " row " + r + " output " + o);
                    }
                }
            }
            Tensor untouched = Tensors.zeros(DType.F32, Device.CPU, 5, 1, 8);
            assertSame(untouched, bank.addTo("model.layers.0.mlp.nonexistent", Tensors.zeros(DType.F32, Device.CPU, 5, 1, 8), untouched, index));
            assertEquals(0.0, Tensors.toFloats(untouched.abs().sum())[0], "no adapter of the bank has that product");
        }
    }

    @Test
    void holdsIsByIdentityAndForeignAdaptersAreRefused() {
        try (AdapterBank bank = AdapterBank.of(List.of(qv), model.products()); PointerScope scope = new PointerScope()) {
            assertTrue(bank.holds(List.of(qv)));
            assertFalse(bank.holds(List.of(qv, all)));
            assertThrows(IllegalArgumentException.class, () -> bank.indexOf(List.of(all)));
        }
    }

    @Test
    void aBankKeepsItsOwnCopyOfTheWeights() {
        Adapter temporary = randomized(Adapter.create(model, AdapterConfig.forTraining(4, 8, 0, List.of("q_proj"), false, "tiny"), 9), 9);
        String module = QKV.get(0);
        long in = model.linearLayers().get(module).inFeatures();
        float[] x = new float[(int) in];
        Arrays.fill(x, 0.25f);
        double[] want = expected(temporary, QKV, x);
        try (AdapterBank bank = AdapterBank.of(List.of(temporary, qv), model.products()); PointerScope scope = new PointerScope()) {
            int[] index = bank.indexOf(Arrays.asList(temporary));
            temporary.close(); // an unloaded adapter: the bank must not read freed memory
            Tensor y = Tensors.zeros(DType.F32, Device.CPU, 1, want.length);
            float[] got = Tensors.toFloats(bank.addTo(module, Tensors.fromFloats(x, 1, in), y, index));
            for (int o = 0; o < got.length; o++) {
                assertEquals(want[o], got[o], 1e-4 * (1 + Math.abs(want[o])));
            }
        }
    }

    /** {@link #expected(Adapter, String, float[], int)} of each module of a fused product, one after the other. */
    private static double[] expected(Adapter adapter, List<String> product, float[] x) {
        double[][] parts = new double[product.size()][];
        for (int i = 0; i < parts.length; i++) {
            parts[i] = expected(adapter, product.get(i), x, (int) model.linearLayers().get(product.get(i)).outFeatures());
        }
        return Arrays.stream(parts).flatMapToDouble(Arrays::stream).toArray();
    }

    /** {@code scaling * B (A x)} of one row, in doubles from the adapter's own weights; zeros without that module. */
    private static double[] expected(Adapter adapter, String module, float[] x, int out) {
        double[] y = new double[out];
        LoraWeights w = adapter == null ? null : adapter.modules().get(module);
        if (w == null) {
            return y;
        }
        float[] a = Tensors.toFloats(w.a().detach());
        float[] b = Tensors.toFloats(w.b().detach());
        int r = w.rank();
        double[] h = new double[r];
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < x.length; k++) {
                h[j] += (double) a[j * x.length + k] * x[k];
            }
        }
        for (int o = 0; o < out; o++) {
            for (int j = 0; j < r; j++) {
                y[o] += (double) b[o * r + j] * h[j];
            }
            y[o] *= w.scaling();
        }
        return y;
    }

    private static float[] uniform(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextFloat() - 0.5f;
        }
        return x;
    }
}
