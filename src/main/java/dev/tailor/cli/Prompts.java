package dev.tailor.cli;

import dev.tailor.model.Tokenizer;
import java.util.Arrays;

/** Turns prompt text into token ids, adding BOS deliberately (never twice: the classic double-BOS bug). */
final class Prompts {
    private Prompts() {}

    /** Plain text: BOS first when the tokenizer's config asks for one, as transformers' tokenizer(text) does. */
    static int[] fromText(Tokenizer tokenizer, String text) {
        int[] ids = tokenizer.encode(text);
        if (tokenizer.addBosToken() && tokenizer.bosTokenId().isPresent() && (ids.length == 0 || ids[0] != tokenizer.bosTokenId().getAsInt())) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = tokenizer.bosTokenId().getAsInt();
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        return ids;
    }

    /** A rendered chat template already contains its special tokens: encode without adding any. */
    static int[] fromRenderedChat(Tokenizer tokenizer, String rendered) {
        return tokenizer.encode(rendered);
    }

    static String join(int[] ids) {
        return String.join(",", Arrays.stream(ids).mapToObj(Integer::toString).toArray(String[]::new));
    }
}
