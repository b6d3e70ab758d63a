package dev.tailor.serve;

import dev.tailor.model.TokenLogprob;
import dev.tailor.model.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Log-probabilities in the two shapes of the OpenAI API, with each token as text: the chat
 * shape ({@code content: [{token, logprob, bytes, top_logprobs}]}) and the legacy completions
 * shape ({@code tokens, token_logprobs, top_logprobs, text_offset}). The engine reports token ids
 * only; they are decoded here, on the HTTP thread, one token at a time (special tokens kept), so a
 * token that holds part of a UTF-8 character reads as U+FFFD, as OpenAI's does.
 */
final class TokenTexts {
    private final Tokenizer tokenizer;

    TokenTexts(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    String text(int id) {
        return tokenizer.decode(new int[] {id}, false);
    }

    /** The chat shape's entries, one per token. */
    List<Map<String, Object>> chatContent(List<TokenLogprob> logprobs) {
        List<Map<String, Object>> out = new ArrayList<>(logprobs.size());
        for (TokenLogprob lp : logprobs) {
            Map<String, Object> entry = chatEntry(lp.token(), lp.logprob());
            List<Map<String, Object>> top = new ArrayList<>(lp.topTokens().length);
            for (int i = 0; i < lp.topTokens().length; i++) {
                top.add(chatEntry(lp.topTokens()[i], lp.topLogprobs()[i]));
            }
            entry.put("top_logprobs", top);
            out.add(entry);
        }
        return out;
    }

    /** {@code {"content": [...], "refusal": null}}, the chat choice's logprobs object. */
    Map<String, Object> chatLogprobs(List<TokenLogprob> logprobs) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("content", chatContent(logprobs));
        out.put("refusal", null);
        return out;
    }

    private Map<String, Object> chatEntry(int id, double logprob) {
        String text = text(id);
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        List<Integer> byteList = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            byteList.add(b & 0xff);
        }
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("token", text);
        entry.put("logprob", logprob);
        entry.put("bytes", byteList);
        return entry;
    }

    /**
     * The legacy shape for {@code ids}, where {@code logprobs.get(i)} belongs to {@code ids[i]} or is
     * null (an echoed prompt's first token, which nothing predicts). Offsets count characters of the
     * tokens' texts from {@code firstOffset}.
     */
    Map<String, Object> legacy(int[] ids, List<TokenLogprob> logprobs, int firstOffset) {
        List<String> tokens = new ArrayList<>(ids.length);
        List<Double> tokenLogprobs = new ArrayList<>(ids.length);
        List<Map<String, Double>> top = new ArrayList<>(ids.length);
        List<Integer> offsets = new ArrayList<>(ids.length);
        int offset = firstOffset;
        for (int i = 0; i < ids.length; i++) {
            String text = text(ids[i]);
            TokenLogprob lp = logprobs.get(i);
            tokens.add(text);
            offsets.add(offset);
            offset += text.length();
            tokenLogprobs.add(lp == null ? null : lp.logprob());
            if (lp == null) {
                top.add(null);
            } else {
                Map<String, Double> alternatives = new LinkedHashMap<>();
                for (int j = 0; j < lp.topTokens().length; j++) {
                    alternatives.putIfAbsent(text(lp.topTokens()[j]), lp.topLogprobs()[j]); // most likely first; texts may repeat
                }
                top.add(alternatives);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tokens", tokens);
        out.put("token_logprobs", tokenLogprobs);
        out.put("top_logprobs", top);
        out.put("text_offset", offsets);
        return out;
    }
}
