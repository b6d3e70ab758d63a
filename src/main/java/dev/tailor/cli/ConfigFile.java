package dev.tailor.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tailor.TailorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code --config FILE.yaml}: the file's keys become the subcommand's options (lora_r or lora-r
 * for --lora-r), placed before the options typed on the command line so that those win.
 */
final class ConfigFile {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** A command whose --config names a file of its own format (tailor serve's serve.yaml), read by the command itself. */
    interface OwnFormat {}

    private ConfigFile() {}

    /** The arguments with {@code --config FILE} replaced by the file's options; unchanged without it. */
    static String[] expand(CommandLine root, String[] args) {
        int at = indexOfConfig(args);
        if (at < 0) {
            return args;
        }
        String value = args[at].startsWith("--config=") ? args[at].substring("--config=".length())
                : at + 1 < args.length ? args[at + 1] : null;
        if (value == null) {
            throw new TailorException("--config needs a FILE.yaml");
        }
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        rest.subList(at, args[at].startsWith("--config=") ? at + 1 : at + 2).clear();
        CommandLine command = root;
        int prefix = 0;
        while (prefix < rest.size() && command.getSubcommands().containsKey(rest.get(prefix))) {
            command = command.getSubcommands().get(rest.get(prefix));
            prefix++;
        }
        if (command.getCommand() instanceof OwnFormat) {
            return args;
        }
        List<String> expanded = new ArrayList<>(rest.subList(0, prefix));
        expanded.addAll(options(Path.of(value), command.getCommandSpec()));
        expanded.addAll(rest.subList(prefix, rest.size()));
        return expanded.toArray(String[]::new);
    }

    private static int indexOfConfig(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") || args[i].startsWith("--config=")) {
                return i;
            }
        }
        return -1;
    }

    private static List<String> options(Path file, CommandSpec spec) {
        JsonNode root;
        try {
            root = YAML.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new TailorException(file + ": cannot read the config: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            throw new TailorException(file + ": a config is a YAML mapping of option names to values (e.g. lora_r: 8)");
        }
        List<String> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = "--" + e.getKey().replace('_', '-');
            OptionSpec option = spec.findOption(name);
            if (option == null || name.equals("--config")) {
                throw new TailorException(file + ": unknown option '" + e.getKey() + "' for 'tailor " + spec.qualifiedName().replaceFirst("^\\S+\\s*", "")
                        + "'; see --help for the valid names");
            }
            JsonNode v = e.getValue();
            if (v.isBoolean() && option.arity().max() == 0) {
                if (v.asBoolean()) {
                    out.add(name);
                } else if (option.negatable()) {
                    out.add("--no-" + name.substring(2));
                }
            } else if (v.isArray()) {
                List<String> items = new ArrayList<>();
                v.forEach(item -> items.add(item.asText()));
                out.add(name + "=" + String.join(",", items));
            } else {
                out.add(name + "=" + v.asText());
            }
        }
        return out;
    }
}
