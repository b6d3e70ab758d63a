package dev.tailor.data;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Hugging Face chat template (Jinja2), rendered byte for byte as transformers'
 * apply_chat_template(tokenize=False) renders it, together with the special-token strings the
 * template may use. Immutable; one instance may render from many threads.
 */
public final class ChatTemplate {
    /** ChatML with a default system prompt: the template Tailor writes into the models it generates. */
    public static final String CHATML_SOURCE = resource("chatml.jinja");

    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "pad_token", "unk_token");

    private final String source;
    private final String preparedSource;
    private final String origin;
    private final Map<String, String> specialTokens;
    private final Jinjava jinjava;

    private ChatTemplate(String source, String origin, Map<String, String> specialTokens, Clock clock) {
        this.source = source;
        this.preparedSource = JinjaSource.prepare(source);
        this.origin = origin;
        this.specialTokens = specialTokens;
        this.jinjava = JinjaEnvironment.create(clock);
    }

    /**
     * The template of a Hugging Face model directory: chat_template.jinja if present, else the
     * chat_template field of tokenizer_config.json, whose special tokens the template gets as well.
     */
    public static ChatTemplate fromModelDir(Path dir) {
        Path config = dir.resolve("tokenizer_config.json");
        Map<String, Object> tokenizerConfig = Files.exists(config) ? Json.readMap(config) : Map.of();
        Map<String, Object> tokens = new LinkedHashMap<>();
        SPECIAL_TOKENS.forEach(name -> tokens.put(name, tokenizerConfig.get(name)));
        Path jinjaFile = dir.resolve("chat_template.jinja");
        if (Files.exists(jinjaFile)) {
            return fromFile(jinjaFile, tokens);
        }
        Object field = tokenizerConfig.get("chat_template");
        if (field == null) {
            throw new TailorException(dir + ": no chat template (neither chat_template.jinja nor a chat_template"
                    + " in tokenizer_config.json); add chat_template.jinja or pass --template");
        }
        return new ChatTemplate(templateField(field, config), config + " (chat_template)", tokenStrings(tokens),
                Clock.systemDefaultZone());
    }

    public static ChatTemplate fromFile(Path file, Map<String, ?> specialTokens) {
        try {
            return new ChatTemplate(Files.readString(file), file.toString(), tokenStrings(specialTokens),
                    Clock.systemDefaultZone());
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read the chat template: " + e.getMessage(), e);
        }
    }

    /** specialTokens: bos_token, eos_token, ... as strings or AddedToken dicts; null values are left out. */
    public static ChatTemplate of(String source, Map<String, ?> specialTokens) {
        return new ChatTemplate(source, "chat template", tokenStrings(specialTokens), Clock.systemDefaultZone());
    }

    public static ChatTemplate chatml(Map<String, ?> specialTokens) {
        return new ChatTemplate(CHATML_SOURCE, "ChatML template", tokenStrings(specialTokens),
                Clock.systemDefaultZone());
    }

    /** The same template with strftime_now reading this clock (its zone gives the local time). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(source, origin, specialTokens, clock);
    }

    /**
     * Renders a conversation. messages, tools and extra variables (enable_thinking, documents, ...)
     * are JSON values as Jackson parses them; tools and extraVariables may be null.
     */
    public String render(List<Map<String, Object>> messages, List<Map<String, Object>> tools,
            boolean addGenerationPrompt, Map<String, Object> extraVariables) {
        Map<String, Object> variables = new HashMap<>(specialTokens);
        variables.put("none", JinjaNone.NONE); // Jinjava reads none as a variable; Jinja2 as None
        variables.put("None", JinjaNone.NONE);
        variables.put("messages", JinjaPython.fromJson(messages));
        variables.put("tools", JinjaPython.fromJson(tools));
        variables.put("documents", JinjaNone.NONE);
        variables.put("add_generation_prompt", addGenerationPrompt);
        if (extraVariables != null) {
            extraVariables.forEach((name, value) -> variables.put(name, JinjaPython.fromJson(value)));
        }
        RenderResult result = jinjava.renderForResult(preparedSource, variables);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw failure(error);
            }
        }
        return result.getOutput();
    }

    public String source() {
        return source;
    }

    public Optional<String> bosToken() {
        return Optional.ofNullable(specialTokens.get("bos_token"));
    }

    public Optional<String> eosToken() {
        return Optional.ofNullable(specialTokens.get("eos_token"));
    }

    public Optional<String> padToken() {
        return Optional.ofNullable(specialTokens.get("pad_token"));
    }

    public Optional<String> unkToken() {
        return Optional.ofNullable(specialTokens.get("unk_token"));
    }

    /** Whether a rendering already starts with BOS, so the tokenizer must not add another one. */
    public boolean rendersBos(String rendered) {
        return bosToken().filter(bos -> !bos.isEmpty() && rendered.startsWith(bos)).isPresent();
    }

    private TailorException failure(TemplateError error) {
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof JinjaEnvironment.RaisedException raised) {
                return new TailorException("chat template: " + raised.getMessage());
            }
        }
        String message = error.getMessage() == null ? error.getReason().toString() : error.getMessage();
        return new TailorException(origin + ", line " + error.getLineno() + ": "
                + message.replaceAll("\\s+", " ").replaceAll("\\b\\w+Exception: ", "").replaceFirst("\\.$", "")
                + "; fix the template or pass --template");
    }

    /** tokenizer_config.json's chat_template: a string, or a list of named templates of which "default" is used. */
    private static String templateField(Object field, Path config) {
        if (field instanceof String text) {
            return text;
        }
        if (field instanceof List<?> named) {
            for (Object entry : named) {
                if (entry instanceof Map<?, ?> map && "default".equals(map.get("name"))
                        && map.get("template") instanceof String text) {
                    return text;
                }
            }
        }
        throw new TailorException(config + ": chat_template must be a string or a list of {\"name\", \"template\"}"
                + " with one named \"default\"; add chat_template.jinja or pass --template");
    }

    /** A special token is a string or an AddedToken dict {"content": ...}; unset tokens are left out. */
    private static Map<String, String> tokenStrings(Map<String, ?> tokens) {
        Map<String, String> out = new LinkedHashMap<>();
        tokens.forEach((name, value) -> {
            Object content = value instanceof Map<?, ?> addedToken ? addedToken.get("content") : value;
            if (content instanceof String text) {
                out.put(name, text);
            }
        });
        return out;
    }

    private static String resource(String name) {
        try (InputStream in = ChatTemplate.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
