package dev.tailor.model;

import dev.tailor.TailorException;
import dev.tailor.tensor.Bf16Gemv;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import dev.tailor.tensor.SafetensorsCheckpoint;
import dev.tailor.tensor.SegmentAttention;
import dev.tailor.tensor.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
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
    /** Kernel-ready copies of the last decoding batch's adapters; kept until a batch brings one it lacks. */
    private AdapterBank decodeBank;

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

    /** A cache for continuous batching: {@code slots} sequences of up to {@code maxLength} tokens each. */
    public SlotKvCache newSlotCache(int slots, int maxLength) {
        return new SlotKvCache(config, slots, maxLength, dtype, device);
    }

    /**
     * Runs the decoder on token ids [B, T] at positions [B, T] and returns the final hidden states
     * [B, T, hidden] (after the final norm). {@code allowed} is the attention mask [B, 1, T, S].
     */
    public Tensor hiddenStates(Tensor ids, Tensor positions, Tensor allowed, KvCache cache, int maxPosition) {
        return hiddenStates(ids, positions, allowed, cache, maxPosition, null);
    }

    /**
     * {@link #hiddenStates(Tensor, Tensor, Tensor, KvCache, int)} for one decoding step (ids [B, 1])
     * whose row r attends to the cache's positions from {@code keysFrom[r]} on (after its prompt's
     * left padding), so that attention runs on the decoding kernel; {@code allowed} says the same for
     * the other paths.
     */
    public Tensor hiddenStates(Tensor ids, Tensor positions, Tensor allowed, KvCache cache, int maxPosition, int[] keysFrom) {
        if (cache == null) {
            return forward(ids, positions, allowed, null, maxPosition, null); // training's pass: gradients as the caller has them
        }
        try (NoGradGuard inference = new NoGradGuard()) { // a cache holds no autograd graph, whatever the adapter
            LayerCache layers = keysFrom == null ? cache::append
                    : LayerCache.decoding(cache::append, new LayerCache.Attended(keysFrom, filled(keysFrom.length, cache.length() + 1)));
            Tensor hidden = forward(ids, positions, allowed, layers, maxPosition, null);
            cache.advance((int) ids.size(1));
            return hidden;
        }
    }

    /**
     * Training's pass over token ids [B, T] at positions [B, T] (restarting with each packed example),
     * each query attending to the earlier tokens of its own example only: see {@link TrainingPass}.
     */
    public TrainingPass trainingPass(Tensor ids, Tensor positions, SegmentAttention.Segments segments, int maxPosition) {
        return TrainingPass.run(this, ids, positions, segments, maxPosition);
    }

    /** cos and sin of the rotary embedding at positions [B, T] (all at most maxPosition), in x's dtype. */
    Tensor[] ropeTables(Tensor positions, int maxPosition, Tensor x) {
        return rope.tables(positions, maxPosition + 1, x.scalar_type());
    }

    private Tensor forward(Tensor ids, Tensor positions, Tensor allowed, LayerCache cache, int maxPosition, RowAdapters adapters) {
        Tensor x = torch.embedding(embedding, ids);
        Tensor[] cosSin = ropeTables(positions, maxPosition, x);
        for (DecoderLayer layer : layers) {
            x = layer.forward(x, cosSin, allowed, cache, adapters);
        }
        return norm.forward(x);
    }

    private static int[] filled(int n, int value) {
        int[] a = new int[n];
        Arrays.fill(a, value);
        return a;
    }

    /** Next-token logits for hidden states [..., hidden], in fp32. */
    public Tensor logits(Tensor hidden) {
        return headLogits(hidden).to(torch.ScalarType.Float);
    }

    /** Next-token logits as the lm_head computes them, in the weights' dtype (bf16 for a bf16 model). */
    public Tensor headLogits(Tensor hidden) {
        return Tensors.linear(hidden, lmHead, null);
    }

    /**
     * Continuous batching's prefill: runs {@code tokens}, the next part of the prompt of the sequence
     * in {@code slot}, after what the slot holds, with {@code adapter} (null = the base; none may be
     * attached), and stores their keys and values there. Returns the fp32 next-token logits [vocab]
     * after the last of them.
     */
    public Tensor prefill(SlotKvCache cache, int slot, int[] tokens, Adapter adapter) {
        try (NoGradGuard inference = new NoGradGuard()) { // a cache holds no autograd graph, whatever the adapter
            int past = chunkStart(cache, slot, tokens);
            int t = tokens.length;
            Tensor ids = Tensors.fromLongs(Arrays.stream(tokens).asLongStream().toArray(), 1, t).to(device.torchDevice(), torch.ScalarType.Long);
            long[] pos = new long[t];
            Arrays.setAll(pos, i -> past + i);
            Tensor positions = Tensors.fromLongs(pos, 1, t).to(device.torchDevice(), torch.ScalarType.Long);
            Tensor hidden = forward(ids, positions, AttentionMasks.causal(past, t, device), cache.chunk(slot, t), past + t - 1,
                    RowAdapters.all(adapter));
            cache.advance(slot, t);
            return logits(hidden.narrow(1, t - 1, 1)).view(-1);
        }
    }

    /** Where a prompt chunk starts in {@code slot} (what the slot holds), after checking its tokens and that they fit. */
    private int chunkStart(SlotKvCache cache, int slot, int[] tokens) {
        int past = cache.length(slot);
        checkTokens(tokens, "prompt");
        if (tokens.length == 0 || past + tokens.length > cache.maxLength()) {
            throw new IllegalArgumentException(tokens.length + " tokens after " + past + " in a slot of " + cache.maxLength());
        }
        return past;
    }

    /**
     * One decoding step of continuous batching for the sequences in slots 0..n-1 of {@code cache}
     * (n = tokens.length): row i feeds {@code tokens[i]} at position {@code cache.length(i)} with
     * {@code adapters.get(i)} (null = the base; none may be attached). Different adapters share the
     * batch: the base products run once for all rows, each adapter's only on its rows. Returns the
     * fp32 next-token logits [n, vocab].
     */
    public Tensor decode(SlotKvCache cache, int[] tokens, List<Adapter> adapters) {
        return decode(cache, tokens, adapters, null);
    }

    /**
     * {@link #decode(SlotKvCache, int[], List)} with the next part of a prompt in the same pass (vLLM's
     * chunked prefill): the matrix products run once over the decoding rows and the prompt's tokens,
     * so the decoding rows ride along products that read every weight anyway; attention stays per
     * sequence. Returns [n + 1, vocab]: the decoding rows, then the logits after the chunk's last
     * token. {@code chunk} null is a plain decoding step.
     */
    public Tensor decode(SlotKvCache cache, int[] tokens, List<Adapter> adapters, PromptChunk chunk) {
        try (NoGradGuard inference = new NoGradGuard()) { // a cache holds no autograd graph, whatever the adapter
            int n = tokens.length;
            if (n == 0 || n > cache.slots() || adapters.size() != n) {
                throw new IllegalArgumentException(n + " tokens, " + adapters.size() + " adapters, " + cache.slots() + " slots");
            }
            checkTokens(tokens, "decoding input");
            long[] pos = new long[n];
            int longest = 0;
            for (int i = 0; i < n; i++) {
                pos[i] = cache.length(i);
                longest = Math.max(longest, cache.length(i) + 1);
            }
            if (longest > cache.maxLength()) {
                throw new IllegalArgumentException("a sequence of " + longest + " tokens in a slot of " + cache.maxLength());
            }
            if (chunk != null) {
                return decodeWithChunk(cache, tokens, adapters, chunk, pos, longest);
            }
            Tensor ids = Tensors.fromLongs(Arrays.stream(tokens).asLongStream().toArray(), n, 1).to(device.torchDevice(), torch.ScalarType.Long);
            Tensor positions = Tensors.fromLongs(pos, n).to(device.torchDevice(), torch.ScalarType.Long);
            Tensor hidden;
            try (Engine.ThreadSetting threads = decodesOnNativeKernel(n) ? Engine.singleThreaded() : null) {
                hidden = forward(ids, positions.view(n, 1), AttentionMasks.upTo(positions, longest), cache.step(n, longest),
                        longest - 1, RowAdapters.of(adapters, bankFor(adapters)));
            }
            for (int i = 0; i < n; i++) {
                cache.advance(i, 1);
            }
            return logits(hidden).view(n, -1);
        }
    }

    /** The decoding rows (0..n-1 of the pass) and the prompt chunk's tokens (n..n+t-1) as two attention segments of one pass. */
    private Tensor decodeWithChunk(SlotKvCache cache, int[] tokens, List<Adapter> adapters, PromptChunk chunk, long[] pos, int longest) {
        int n = tokens.length;
        int t = chunk.tokens().length;
        if (chunk.slot() < n || chunk.slot() >= cache.slots()) {
            throw new IllegalArgumentException("a prompt chunk for slot " + chunk.slot() + " next to " + n + " decoding rows in "
                    + cache.slots() + " slots");
        }
        int past = chunkStart(cache, chunk.slot(), chunk.tokens());
        long[] ids = new long[n + t];
        long[] positions = new long[n + t];
        List<Adapter> perRow = new ArrayList<>(adapters);
        for (int i = 0; i < n; i++) {
            ids[i] = tokens[i];
            positions[i] = pos[i];
        }
        for (int j = 0; j < t; j++) {
            ids[n + j] = chunk.tokens()[j];
            positions[n + j] = past + j;
            perRow.add(chunk.adapter());
        }
        Tensor idTensor = Tensors.fromLongs(ids, n + t, 1).to(device.torchDevice(), torch.ScalarType.Long);
        Tensor positionTensor = Tensors.fromLongs(positions, n + t, 1).to(device.torchDevice(), torch.ScalarType.Long);
        Tensor decodePositions = positionTensor.narrow(0, 0, n).view(n);
        Tensor x = torch.embedding(embedding, idTensor);
        // rotary tables [rows, 1, 1, head_dim]: the decoding rows as n sequences of 1, the chunk as 1 sequence of t
        Tensor[] cosSin = rope.tables(positionTensor, Math.max(longest, past + t), x.scalar_type());
        List<Segment> segments = List.of(
                new Segment(0, n, 1, cosSin[0].narrow(0, 0, n), cosSin[1].narrow(0, 0, n), AttentionMasks.upTo(decodePositions, longest),
                        cache.step(n, longest)),
                new Segment(n, 1, t, cosSin[0].narrow(0, n, t).view(1, 1, t, -1), cosSin[1].narrow(0, n, t).view(1, 1, t, -1),
                        AttentionMasks.causal(past, t, device), cache.chunk(chunk.slot(), t)));
        RowAdapters rows = RowAdapters.of(perRow, bankFor(perRow));
        for (DecoderLayer layer : layers) {
            x = layer.forward(x, segments, rows);
        }
        Tensor hidden = norm.forward(x);
        for (int i = 0; i < n; i++) {
            cache.advance(i, 1);
        }
        cache.advance(chunk.slot(), t);
        Tensor last = Tensors.cat(0, hidden.narrow(0, 0, n), hidden.narrow(0, n + t - 1, 1));
        return logits(last).view(n + 1, -1);
    }

    /**
     * A bank holding every adapter of a decoding batch (its rows' products on {@link dev.tailor.tensor.MixedLora}'s
     * kernel, one row or many, one adapter or several): the last one while it holds them, else a new
     * one with just those. Null when no row has an adapter.
     */
    private AdapterBank bankFor(List<Adapter> perRow) {
        List<Adapter> distinct = new ArrayList<>(); // in order of first use, so that a batch's results do not vary by run
        for (Adapter a : perRow) {
            if (a != null && distinct.stream().noneMatch(d -> d == a)) {
                distinct.add(a);
            }
        }
        if (distinct.isEmpty()) {
            return null;
        }
        if (decodeBank == null || !decodeBank.holds(distinct)) {
            if (decodeBank != null) {
                decodeBank.close();
            }
            decodeBank = null; // a failure below must not leave a closed bank here
            decodeBank = AdapterBank.of(distinct, products());
        }
        return decodeBank;
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
        return scores(ids, null, 0).stream().mapToDouble(TokenLogprob::logprob).toArray();
    }

    /**
     * For i = 1..n-1: ids[i]'s log-probability given ids[0..i-1] and the {@code top} most likely tokens
     * there, with {@code adapter} for this call (null = the attached adapter, if any): what the
     * completions API's {@code echo} with {@code logprobs} reports for a prompt. Empty for one token.
     */
    public List<TokenLogprob> scores(int[] ids, Adapter adapter, int top) {
        checkTokens(ids, "token ids");
        List<TokenLogprob> out = new ArrayList<>();
        if (ids.length < 2) {
            return out;
        }
        try (PointerScope scope = new PointerScope(); NoGradGuard inference = new NoGradGuard()) { // numbers out: no graph
            int t = ids.length;
            Tensor input = Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, t).to(device.torchDevice(), torch.ScalarType.Long);
            Tensor positions = Tensors.arange(t, device).view(1, t);
            Tensor allowed = AttentionMasks.causal(t, device);
            Tensor hidden = forward(input, positions, allowed, null, t - 1, adapter == null ? null : RowAdapters.all(adapter));
            for (int start = 0; start < t - 1; start += LOGIT_CHUNK) {
                int n = Math.min(LOGIT_CHUNK, t - 1 - start);
                try (PointerScope chunk = new PointerScope()) {
                    Tensor logits = logits(hidden.narrow(1, start, n)).view(n, -1);
                    out.addAll(TokenLogprob.pick(logits, Arrays.copyOfRange(ids, start + 1, start + 1 + n), top));
                }
            }
            return out;
        }
    }

    /** Whether decoding steps of {@code batch} sequences run their products on the native bf16 kernel. */
    boolean decodesOnNativeKernel(int batch) {
        return dtype == DType.BF16 && device == Device.CPU && batch <= Bf16Gemv.maxRows(config.hiddenSize());
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

    /** The modules of each matrix product, layer by layer (q/k/v and gate/up each one fused product). */
    List<Linear[]> products() {
        List<Linear[]> products = new ArrayList<>();
        for (DecoderLayer layer : layers) {
            products.addAll(layer.products());
        }
        return products;
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
        if (decodeBank != null) {
            decodeBank.close();
        }
    }
}
