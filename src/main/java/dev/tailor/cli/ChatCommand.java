package dev.tailor.cli;

import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Completion;
import dev.tailor.model.Generator;
import dev.tailor.model.SamplingParams;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "chat", mixinStandardHelpOptions = true,
        description = "Interactive multi-turn chat in the terminal, using the model's chat template (/reset, /exit).")
final class ChatCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--system", paramLabel = "TEXT", description = "system message")
    String system;

    @Override
    public Integer call() throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (ModelOptions.LoadedModel m = modelOptions.open(true)) {
            ChatTemplate template = modelOptions.chatTemplate();
            SamplingParams params = sampling.apply(SamplingParams.fromGenerationConfig(modelOptions.model, m.model().config));
            Generator generator = new Generator(m.model(), m.tokenizer());
            List<Map<String, Object>> messages = new ArrayList<>();
            reset(messages);
            out.println("Chatting with " + modelOptions.model.getFileName() + (modelOptions.adapter != null ? " + " + modelOptions.adapter.getFileName() : "")
                    + ". /reset starts over, /exit quits.");
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null || line.strip().equals("/exit")) {
                    return 0;
                }
                if (line.strip().equals("/reset")) {
                    reset(messages);
                    continue;
                }
                if (line.isBlank()) {
                    continue;
                }
                messages.add(message("user", line));
                String prompt = template.render(messages, null, true, Map.of());
                Completion reply = generator.generate(Prompts.fromRenderedChat(m.tokenizer(), prompt), params, (seq, delta) -> {
                    out.print(delta);
                    out.flush(); // stream as tokens arrive; print(String) flushes only at newlines
                });
                out.println();
                messages.add(message("assistant", reply.text()));
            }
        }
    }

    private void reset(List<Map<String, Object>> messages) {
        messages.clear();
        if (system != null) {
            messages.add(message("system", system));
        }
    }

    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }
}
