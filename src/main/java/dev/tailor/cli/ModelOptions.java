package dev.tailor.cli;

import dev.tailor.TailorException;
import dev.tailor.data.ChatTemplate;
import dev.tailor.model.Adapter;
import dev.tailor.model.Model;
import dev.tailor.model.Tokenizer;
import dev.tailor.tensor.DType;
import dev.tailor.tensor.Device;
import dev.tailor.tensor.Engine;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where the model (and optional adapter) is and how to run it: shared by every model command. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter directory, applied unmerged")
    Path adapter;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--dtype", paramLabel = "f32|bf16", description = "compute dtype of the weights (default: the checkpoint's; f16 becomes f32)")
    String dtype;

    @Option(names = "--threads", defaultValue = "0", description = "intra-op threads (default: one per core)")
    int threads;

    /** Loads everything the command needs; the caller closes it. */
    LoadedModel open(boolean withTokenizer) {
        if (!Files.isDirectory(model)) {
            throw new TailorException("--model " + model + ": not a directory");
        }
        Engine.configure(threads);
        Tokenizer tokenizer = withTokenizer ? Tokenizer.fromModelDir(model) : null;
        Model m = Model.load(model, Device.parse(device), dtype == null ? null : DType.parse(dtype));
        Adapter a = null;
        if (adapter != null) {
            a = Adapter.load(adapter, m);
            m.attach(a);
        }
        return new LoadedModel(m, a, tokenizer);
    }

    /** The chat template of the model directory (or of the adapter directory, which ships the one it was trained with). */
    ChatTemplate chatTemplate() {
        if (adapter != null && (Files.exists(adapter.resolve("chat_template.jinja")) || Files.exists(adapter.resolve("tokenizer_config.json")))) {
            return ChatTemplate.fromModelDir(adapter);
        }
        return ChatTemplate.fromModelDir(model);
    }

    /** A model, its optional adapter and tokenizer, closed together. */
    record LoadedModel(Model model, Adapter adapter, Tokenizer tokenizer) implements AutoCloseable {
        @Override
        public void close() {
            if (adapter != null) {
                model.detachAdapter();
                adapter.close();
            }
            model.close();
            if (tokenizer != null) {
                tokenizer.close();
            }
        }
    }
}
