package dev.tailor.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tailor.Json;
import dev.tailor.TailorException;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "chat-template", mixinStandardHelpOptions = true,
        description = "Render messages with a chat template exactly as transformers does (or print the token ids).")
final class ChatTemplateCommand implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    static final class Source {
        @Option(names = "--model", paramLabel = "DIR", description = "model directory (chat_template.jinja or tokenizer_config.json)")
        Path model;

        @Option(names = "--template", paramLabel = "FILE", description = "a Jinja chat template file")
        Path template;
    }

    @Option(names = "--messages", required = true, paramLabel = "FILE")
    Path messages;

    @Option(names = "--tools", paramLabel = "FILE", description = "JSON array of tools (OpenAI function schema)")
    Path tools;

    @Option(names = "--add-generation-prompt", description = "end with the assistant header, ready for generation")
    boolean addGenerationPrompt;

    @Option(names = "--set", paramLabel = "NAME=VALUE", description = "extra template variable, VALUE parsed as JSON when it is (e.g. enable_thinking=false)")
    List<String> variables = new ArrayList<>();

    @Option(names = "--ids", description = "print the token ids instead of the text (needs --model)")
    boolean ids;

    @Override
    public Integer call() {
        ChatTemplate template = source.model != null ? ChatTemplate.fromModelDir(source.model) : ChatTemplate.fromFile(source.template, Map.of());
        Conversation conversation = Conversation.read(messages);
        var toolList = tools != null ? Conversation.readTools(tools) : conversation.tools();
        String rendered = template.render(conversation.messages(), toolList, addGenerationPrompt, parseVariables());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (ids) {
            if (source.model == null) {
                throw new TailorException("--ids needs --model (a tokenizer); --template gives only text");
            }
            try (Tokenizer tokenizer = Tokenizer.fromModelDir(source.model)) {
                out.println(Prompts.join(Prompts.fromRenderedChat(tokenizer, rendered)));
            }
        } else {
            out.print(rendered); // byte-exact: no newline of our own
        }
        out.flush();
        return 0;
    }

    private Map<String, Object> parseVariables() {
        Map<String, Object> vars = new LinkedHashMap<>();
        for (String v : variables) {
            int eq = v.indexOf('=');
            if (eq <= 0) {
                throw new TailorException("--set " + v + ": expected NAME=VALUE");
            }
            String value = v.substring(eq + 1);
            Object parsed;
            try {
                parsed = Json.MAPPER.readValue(value, Object.class);
            } catch (JsonProcessingException notJson) {
                parsed = value;
            }
            vars.put(v.substring(0, eq), parsed);
        }
        return vars;
    }
}
