package dev.tailor.cli;

import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Completion;
import dev.tailor.model.Generator;
import dev.tailor.model.SamplingParams;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation of a prompt (or a chat reply to --messages), streamed to stdout.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions sampling;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", description = "raw text prompt (no chat template)")
        String prompt;

        @Option(names = "--messages", paramLabel = "FILE", description = "chat messages JSON, rendered with the model's chat template")
        Path messages;
    }

    @Override
    public Integer call() {
        try (ModelOptions.LoadedModel m = modelOptions.open(true)) {
            int[] ids;
            if (input.prompt != null) {
                ids = Prompts.fromText(m.tokenizer(), input.prompt);
            } else {
                Conversation conversation = Conversation.read(input.messages);
                ChatTemplate template = modelOptions.chatTemplate();
                String rendered = template.render(conversation.messages(), conversation.tools(), true, Map.of());
                ids = Prompts.fromRenderedChat(m.tokenizer(), rendered);
            }
            SamplingParams params = sampling.apply(SamplingParams.fromGenerationConfig(modelOptions.model, m.model().config));
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            Completion c = new Generator(m.model(), m.tokenizer()).generate(ids, params, (seq, delta) -> {
                out.print(delta);
                out.flush();
            });
            out.println();
            System.err.println("[" + c.tokenIds().length + " tokens, finish_reason=" + c.finishReason() + "]");
            return 0;
        }
    }
}
