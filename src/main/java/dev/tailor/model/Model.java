package dev.tailor.model;

import dev.tailor.TailorException;
import dev.tailor.tensor.Bf16Gemv;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.SafetensorsCheckpoint;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A Llama-family causal language model loaded from a Hugging Face directory, computed as
 * transformers computes it. Read top to bottom: embedding, decoder layers, final norm, lm_head.
 * Weights stay in the checkpoint's dtype (F16 is converted: CPU fp16 GEMM is unusably slow).
 */
public final class Model implements AutoCloseable {
    /**
     * Rows of the vocabulary projection computed at once wherever logits of many positions are needed
     * (log-probabilities here, the training loss): [T, vocab] in fp32 would be 2.5 GB for 4k tokens of
     * a 152k vocabulary.
     */
    public static final int LOGIT_CHUNK = 256;
    public final ModelConfig config;
    public final Path directory;
    public final DType dtype;
    public final Device device;
    final Tensor embedding;
    final DecoderLayer[] layers;
    final RmsNorm norm;
    final Tensor lmHead;
    private final RotaryEmbedding rope;

    private Model(ModelConfig config, Path directory, DType dtype, Device device, Tensor embedding,
                  DecoderLayer[] layers, RmsNorm norm, Tensor lmHead) {
        this.config = config;
        this.directory = directory;
        this.dtype = dtype;
        this.device = device;
        this.embedding = embedding;
        this.layers = layers;
        this.norm = norm;
        this.lmHead = lmHead;
        this.rope = new RotaryEmbedding(config.rope(), config.headDim(), config.contextLength(), device);
    }

    /**
     * Loads config.json and the safetensors weights of {@code dir}.
     * @param dtype compute dtype for the weights, or null for the checkpoint's (F16 becomes F32)
     */
    public static Model load(Path dir, Device device, DType dtype) {
        return load(dir, device, dtype, false);
    }

    /**
     * @param nf4 keep the decoder's linear weights in NF4 with double quantization (QLoRA): about
     *     0.52 bytes per parameter, dequantized per product; embeddings, norms and lm_head stay 16-bit
     *     as bitsandbytes leaves them
     */
    public static Model load(Path dir, Device device, DType dtype, boolean nf4) {
        ModelConfig config = ModelConfig.load(dir);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            return new WeightLoader(config, checkpoint, dir, device, dtype, nf4).load();
        }
    }

    static Model assemble(ModelConfig config, Path dir, DType dtype, Device device, Tensor embedding,
                          DecoderLayer[] layers, RmsNorm norm, Tensor lmHead) {
        return new Model(config, dir, dtype, device, embedding, layers, norm, lmHead);
    }

    public int vocabSize() {
        return config.vocabSize();
    }

    /** A cache for {@code batch} sequences of up to {@code capacity} tokens in total. */
    public KvCache newCache(int batch, int capacity) {
        return new KvCache(config, batch, capacity, dtype, device);
    }

    /**
     * Runs the decoder on token ids [B, T] at positions [B, T] and returns the final hidden states
     * [B, T, hidden] (after the final norm). {@code allowed} is the attention mask [B, 1, T, S].
     */
    public Tensor hiddenStates(Tensor ids, Tensor positions, Tensor allowed, KvCache cache, int maxPosition) {
        Tensor x = torch.embedding(embedding, ids);
        Tensor[] cosSin = rope.tables(positions, maxPosition + 1, x.scalar_type());
        for (DecoderLayer layer : layers) {
            x = layer.forward(x, cosSin, allowed, cache);
        }
        if (cache != null) {
            cache.advance((int) ids.size(1));
        }
        return norm.forward(x);
    }

    /** Next-token logits for hidden states [..., hidden], in fp32. */
    public Tensor logits(Tensor hidden) {
        return Tensors.linear(hidden, lmHead, null).to(torch.ScalarType.Float);
    }

    /**
     * log p(ids[i+1] | ids[0..i]) for i = 0..n-2, exact and unsampled: the quantity that evaluation
     * and cross-implementation checks compare.
     */
    public double[] logprobs(int[] ids) {
        checkTokens(ids, "token ids");
        if (ids.length < 2) {
            throw new TailorException("logprobs need at least 2 tokens, got " + ids.length);
        }
        try (PointerScope scope = new PointerScope()) {
            int t = ids.length;
            Tensor input = Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, t).to(device.torchDevice(), torch.ScalarType.Long);
            Tensor positions = Tensors.arange(t, device).view(1, t);
            Tensor allowed = AttentionMasks.causal(t, device);
            Tensor hidden = hiddenStates(input, positions, allowed, null, t - 1);
            double[] out = new double[t - 1];
            for (int start = 0; start < t - 1; start += LOGIT_CHUNK) {
                int n = Math.min(LOGIT_CHUNK, t - 1 - start);
                try (PointerScope chunk = new PointerScope()) {
                    Tensor logp = Tensors.logSoftmaxFloat(logits(hidden.narrow(1, start, n)), -1);
                    Tensor targets = input.narrow(1, start + 1, n).unsqueeze(-1);
                    float[] picked = Tensors.toFloats(logp.gather(2, targets));
                    for (int i = 0; i < n; i++) {
                        out[start + i] = picked[i];
                    }
                }
            }
            return out;
        }
    }

    /** Whether decoding steps of {@code batch} sequences run their products on the native bf16 kernel. */
    boolean decodesOnNativeKernel(int batch) {
        return dtype == DType.BF16 && device == Device.CPU && batch <= Bf16Gemv.MAX_ROWS && Bf16Gemv.available();
    }

    /** Rejects ids outside the vocabulary and sequences beyond the context, before any native call. */
    public void checkTokens(int[] ids, String what) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocabSize()) {
                throw new TailorException(what + ": token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary (0.." + (config.vocabSize() - 1) + ")");
            }
        }
        if (ids.length > config.contextLength()) {
            throw new TailorException(what + ": " + ids.length + " tokens exceed the model's context of "
                    + config.contextLength() + " (max_position_embeddings" + (config.slidingWindow() != null ? "/sliding_window" : "")
                    + " in config.json); shorten the input");
        }
    }

    /** Every linear layer by its Hugging Face module name (model.layers.N.self_attn.q_proj, ...). */
    public Map<String, Linear> linearLayers() {
        Map<String, Linear> all = new LinkedHashMap<>();
        for (DecoderLayer layer : layers) {
            for (Linear l : layer.linears()) {
                all.put(l.name, l);
            }
        }
        return all;
    }

    /** The tensors that own the weights (fused products as one tensor): full fine-tuning's parameters. */
    Map<String, Tensor> leafWeights() {
        return weights(true);
    }

    /** Every weight under its Hugging Face checkpoint name (views for the parts of fused products). */
    Map<String, Tensor> weightsByName() {
        return weights(false);
    }

    private Map<String, Tensor> weights(boolean fusedAsOne) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("model.embed_tokens.weight", embedding);
        for (DecoderLayer layer : layers) {
            layer.collectWeights(out, fusedAsOne);
        }
        out.put("model.norm.weight", norm.weight());
        if (lmHead != embedding) {
            out.put("lm_head.weight", lmHead);
        }
        return out;
    }

    /** Applies an adapter unmerged ({@code W x + scaling B A x}); it stays owned by the caller. */
    public void attach(Adapter adapter) {
        Map<String, Linear> linears = linearLayers();
        adapter.modules().forEach((module, weights) -> linears.get(module).setLora(weights));
    }

    public void detachAdapter() {
        linearLayers().values().forEach(l -> l.setLora(null));
    }

    /**
     * Training mode: LoRA dropout with probability {@code loraDropout} on adapter inputs (the only
     * dropout of these architectures as Tailor trains them). {@link #eval} turns it off.
     */
    public void train(double loraDropout) {
        linearLayers().values().forEach(l -> l.setDropout(loraDropout));
    }

    public void eval() {
        train(0);
    }

    /** Bytes the frozen weights of the decoder layers keep resident (NF4 or dense), for QLoRA accounting. */
    public long decoderLinearBytes() {
        long n = 0;
        for (DecoderLayer layer : layers) {
            n += layer.linearBytes();
        }
        return n;
    }

    /** Parameters of the decoder layers' linear products (what NF4 quantizes). */
    public long decoderLinearParameters() {
        long n = 0;
        for (DecoderLayer layer : layers) {
            n += layer.linearParameters();
        }
        return n;
    }

    public long parameterCount() {
        long n = embedding.numel() + norm.numel();
        if (lmHead != embedding) {
            n += lmHead.numel();
        }
        for (DecoderLayer layer : layers) {
            n += layer.parameterCount();
        }
        return n;
    }

    @Override
    public void close() {
        for (DecoderLayer layer : layers) {
            layer.close();
        }
        norm.close();
        if (lmHead != embedding) {
            lmHead.close();
        }
        embedding.close();
        rope.close();
    }
}
