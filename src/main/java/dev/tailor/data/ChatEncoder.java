package dev.tailor.data;

import dev.tailor.TailorException;
import dev.tailor.model.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns examples into token ids and loss labels: the one implementation of chat rendering and
 * loss masking that training, the label viewer and the server share.
 *
 * <p>A chat example is rendered once with the model's template and tokenized as a whole, without
 * added special tokens (BOS is prepended once when the tokenizer adds one and the rendering does
 * not start with it). The trained tokens are the assistant turns' spans: for assistant message i,
 * the text that {@code render(messages[0..i])} adds after {@code render(messages[0..i-1],
 * add_generation_prompt=true)}: its content, its end-of-turn token and whatever the template emits
 * up to the next message. Where the template renders a turn differently once later messages follow
 * (Qwen3 drops the {@code <think>} block of earlier turns), that turn's span is the longest tail of
 * its own rendering found in the whole rendering after the previous span (see locate).
 *
 * <p>Character spans become token spans by tokenizing the text between span boundaries piece by
 * piece; when the concatenated pieces equal the whole text's ids (ChatML, Llama 3 and other
 * templates whose boundaries sit at special tokens or newlines), the piece boundaries are exact.
 * Otherwise (a content starting with a newline that merges with the header's, SentencePiece
 * tokenizers that prepend "▁" to every piece) each boundary is found by tokenizing the text before
 * it and comparing with the whole text's ids; a boundary inside a token widens the span to cover
 * that token. The ids are always the whole text's single tokenization, as generation sees it.
 * (DJL's character offsets are not used: {@link Tokenizer} does not expose them.)
 */
public final class ChatEncoder {
    public static final int IGNORE = -100;

    private final ChatTemplate template;
    private final Tokenizer tokenizer;

    public ChatEncoder(ChatTemplate template, Tokenizer tokenizer) {
        this.template = template;
        this.tokenizer = tokenizer;
    }

    /** Training encoding, truncated to maxSeqLen tokens (right truncation; truncated flag set). */
    public TokenizedExample encode(Example example, int maxSeqLen) {
        if (maxSeqLen < 1) {
            throw new IllegalArgumentException("maxSeqLen must be positive: " + maxSeqLen);
        }
        Sequence sequence = switch (example.kind()) {
            case CHAT -> chat(example);
            case COMPLETION -> completion(example);
            case TEXT -> text(example);
        };
        sequence.labels[0] = IGNORE; // no position predicts the first token (see TokenizedExample)
        boolean truncated = sequence.ids.length > maxSeqLen;
        int length = Math.min(sequence.ids.length, maxSeqLen);
        return new TokenizedExample(example.line(), Arrays.copyOf(sequence.ids, length),
                Arrays.copyOf(sequence.labels, length), truncated);
    }

    /** Prompt ids for generation (chat: template with add_generation_prompt=true). Used by eval and serving. */
    public int[] encodePrompt(List<Map<String, Object>> messages, List<Map<String, Object>> tools) {
        String rendered = template.render(messages, tools, true, null);
        return concat(bos(rendered), tokenizer.encode(rendered));
    }

    /** Prompt ids of a completion-format prompt: BOS when the tokenizer adds one, then the text. */
    public int[] encodePromptText(String prompt) {
        return concat(bos(prompt), tokenizer.encode(prompt));
    }

    private Sequence completion(Example example) {
        int[] prompt = encodePromptText(example.prompt());
        int[] completion = concat(tokenizer.encode(example.completion()), new int[] {eos(example)});
        int[] labels = new int[prompt.length + completion.length];
        Arrays.fill(labels, 0, prompt.length, IGNORE);
        System.arraycopy(completion, 0, labels, prompt.length, completion.length);
        return new Sequence(concat(prompt, completion), labels);
    }

    private Sequence text(Example example) {
        int[] bos = bos(example.text());
        int[] ids = concat(bos, concat(tokenizer.encode(example.text()), new int[] {eos(example)}));
        int[] labels = ids.clone();
        Arrays.fill(labels, 0, bos.length, IGNORE);
        return new Sequence(ids, labels);
    }

    private Sequence chat(Example example) {
        String rendered = template.render(example.messages(), example.tools(), false, null);
        List<Span> spans = assistantSpans(example, rendered);
        int[] cuts = new int[spans.size() * 2];
        for (int k = 0; k < spans.size(); k++) {
            cuts[2 * k] = spans.get(k).start;
            cuts[2 * k + 1] = spans.get(k).end;
        }
        int[] bos = bos(rendered);
        int[] text = tokenizer.encode(rendered);
        int[] tokenCuts = tokenBoundaries(rendered, text, cuts);
        int[] ids = concat(bos, text);
        int[] labels = new int[ids.length];
        Arrays.fill(labels, IGNORE);
        for (int k = 0; k < spans.size(); k++) {
            int from = bos.length + tokenCuts[2 * k];
            int to = bos.length + tokenCuts[2 * k + 1];
            if (spans.get(k).trained) {
                System.arraycopy(ids, from, labels, from, to - from);
                checkEndOfTurn(example, spans.get(k), ids, from, to);
            }
        }
        return new Sequence(ids, labels);
    }

    /**
     * Guards the classic bug of a model that never stops (trl #1623): every trained assistant span
     * must contain a special token (the template's end-of-turn) or EOS. Checked before truncation,
     * so it holds for every example whatever maxSeqLen cuts away.
     */
    private void checkEndOfTurn(Example example, Span span, int[] ids, int from, int to) {
        Set<Integer> special = tokenizer.specialIds();
        int eos = tokenizer.eosTokenId().orElse(-1);
        for (int i = from; i < to; i++) {
            if (ids[i] == eos || special.contains(ids[i])) {
                return;
            }
        }
        throw new IllegalStateException("example at line " + example.line() + ": the tokens of messages["
                + span.message + "] (assistant) contain no end-of-turn or EOS token, so the model would never learn to stop;"
                + " the chat template must close assistant turns with a special token");
    }

    /** The character span of every assistant message in the whole rendering, in order. */
    private List<Span> assistantSpans(Example example, String rendered) {
        List<Map<String, Object>> messages = example.messages();
        List<Span> spans = new ArrayList<>();
        int cursor = 0;
        for (int i = 0; i < messages.size(); i++) {
            Map<String, Object> message = messages.get(i);
            if (!"assistant".equals(message.get("role"))) {
                continue;
            }
            String full = template.render(messages.subList(0, i + 1), example.tools(), false, null);
            String prompt = template.render(messages.subList(0, i), example.tools(), true, null);
            int start = commonPrefixLength(prompt, full);
            String turn = full.substring(start);
            int[] found = rendered.startsWith(full) && start >= cursor
                    ? new int[] {start, full.length()}
                    : locate(turn, (String) message.get("content"), rendered, cursor);
            if (found == null) {
                throw new TailorException("example at line " + example.line() + ": the chat template renders"
                        + " messages[" + i + "] (assistant) differently once later messages follow, and its text"
                        + " cannot be found in the rendering of the whole conversation, so its loss mask is unknown;"
                        + " split the conversation into one example per assistant turn");
            }
            boolean trained = !Integer.valueOf(0).equals(message.get("weight"));
            spans.add(new Span(found[0], found[1], trained, i));
            cursor = found[1];
        }
        return spans;
    }

    /**
     * Finds a turn that the template rewrote once later messages followed: the longest tail of the
     * turn's own rendering that occurs in the whole rendering at or after the cursor. The tail
     * starts at a non-whitespace character (the header before it usually ends in a newline, which
     * is not the assistant's) and reaches back at least to the content's last line, so a bare
     * end-of-turn token of some later message can never be taken for the turn.
     */
    private static int[] locate(String turn, String content, String rendered, int cursor) {
        int latestStart = turn.length() - 1;
        String lastLine = lastLine(content);
        if (!lastLine.isEmpty()) {
            latestStart = turn.lastIndexOf(lastLine);
            if (latestStart < 0) {
                return null;
            }
        }
        for (int j = 0; j <= latestStart; j++) {
            if (Character.isWhitespace(turn.charAt(j))) {
                continue;
            }
            int at = rendered.indexOf(turn.substring(j), cursor);
            if (at >= 0) {
                return new int[] {at, at + turn.length() - j};
            }
        }
        return null;
    }

    /** The last non-blank line of the content, stripped; empty when the content is blank (tool calls only). */
    private static String lastLine(String content) {
        String stripped = content.strip();
        return stripped.substring(stripped.lastIndexOf('\n') + 1).strip();
    }

    /**
     * Token indexes of character boundaries in text, whose whole tokenization is ids: piece by
     * piece when that reproduces ids, else by tokenizing each boundary's prefix (see class doc).
     * Odd positions of cuts are span ends; a boundary inside a token widens the span over it.
     */
    private int[] tokenBoundaries(String text, int[] ids, int[] cuts) {
        int[] boundaries = new int[cuts.length];
        List<int[]> pieces = new ArrayList<>();
        int count = 0;
        for (int k = 0; k <= cuts.length; k++) {
            int[] piece = tokenizer.encode(text.substring(k == 0 ? 0 : cuts[k - 1], k < cuts.length ? cuts[k] : text.length()));
            pieces.add(piece);
            count += piece.length;
            if (k < cuts.length) {
                boundaries[k] = count;
            }
        }
        int[] joined = pieces.stream().flatMapToInt(Arrays::stream).toArray();
        if (Arrays.equals(joined, ids)) {
            return boundaries;
        }
        for (int k = 0; k < cuts.length; k++) {
            int[] prefix = tokenizer.encode(text.substring(0, cuts[k]));
            int common = commonPrefixLength(prefix, ids);
            boolean isEnd = k % 2 == 1;
            boundaries[k] = common == prefix.length || !isEnd ? common : Math.min(common + 1, ids.length);
        }
        return boundaries;
    }

    /** [BOS] when the tokenizer adds one and the text does not already start with it (never two BOS). */
    private int[] bos(String text) {
        boolean rendered = template.rendersBos(text)
                || tokenizer.bosToken().filter(bos -> !bos.isEmpty() && text.startsWith(bos)).isPresent();
        return tokenizer.addBosToken() && !rendered ? new int[] {tokenizer.bosTokenId().getAsInt()} : new int[0];
    }

    private int eos(Example example) {
        return tokenizer.eosTokenId().orElseThrow(() -> new TailorException("example at line " + example.line()
                + ": the tokenizer has no eos_token to end " + example.kind().describe()
                + " with; set eos_token in the model's tokenizer_config.json"));
    }

    private static int commonPrefixLength(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }

    private static int commonPrefixLength(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Characters [start, end) of the rendering belong to messages[message], an assistant turn. */
    private record Span(int start, int end, boolean trained, int message) {}

    private record Sequence(int[] ids, int[] labels) {}
}
