package dev.tailor.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tailor.Json;
import dev.tailor.TailorException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.NavigableSet;
import java.util.TreeMap;
import org.bytedeco.pytorch.Tensor;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or
 * {@code model.safetensors.index.json} and the shards it names. Every file is opened and validated up
 * front, so a damaged download fails before any weight is loaded.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path modelDir;
    private final NavigableMap<String, SafetensorsFile> fileOf;
    private final List<SafetensorsFile> files;

    private SafetensorsCheckpoint(Path modelDir, NavigableMap<String, SafetensorsFile> fileOf, List<SafetensorsFile> files) {
        this.modelDir = modelDir;
        this.fileOf = fileOf;
        this.files = files;
    }

    /** Opens the weights of {@code modelDir}; like transformers, prefers model.safetensors when both layouts exist. */
    public static SafetensorsCheckpoint open(Path modelDir) {
        Path single = modelDir.resolve(SINGLE_FILE);
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.isRegularFile(single)) {
            SafetensorsFile file = SafetensorsFile.open(single);
            NavigableMap<String, SafetensorsFile> fileOf = new TreeMap<>();
            file.names().forEach(name -> fileOf.put(name, file));
            return new SafetensorsCheckpoint(modelDir, fileOf, List.of(file));
        }
        if (Files.isRegularFile(index)) {
            return openSharded(modelDir, index);
        }
        throw new TailorException("no " + SINGLE_FILE + " or " + INDEX_FILE + " in " + modelDir
                + "; is this a Hugging Face model directory?");
    }

    /** Every tensor name, sorted. */
    public NavigableSet<String> names() {
        return Collections.unmodifiableNavigableSet(fileOf.navigableKeySet());
    }

    /** The dtype and shape of a tensor, for checks before anything is loaded. */
    public SafetensorsEntry entry(String name) {
        return fileFor(name).entry(name);
    }

    public Tensor load(String name, DType target) {
        return fileFor(name).load(name, target);
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }

    private SafetensorsFile fileFor(String name) {
        SafetensorsFile file = fileOf.get(name);
        if (file == null) {
            throw new TailorException("the weights in " + modelDir + " have no tensor named '" + name
                    + "'; is this the right model?");
        }
        return file;
    }

    private static SafetensorsCheckpoint openSharded(Path modelDir, Path index) {
        Map<String, String> weightMap = readWeightMap(index);
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        try {
            NavigableMap<String, SafetensorsFile> fileOf = new TreeMap<>();
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                String shardName = e.getValue();
                SafetensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    shard = SafetensorsFile.open(shardPath(modelDir, index, shardName));
                    shards.put(shardName, shard);
                }
                if (!shard.contains(e.getKey())) {
                    throw new TailorException(index + ": weight_map puts tensor '" + e.getKey() + "' in " + shardName
                            + ", which does not contain it; re-download the model");
                }
                fileOf.put(e.getKey(), shard);
            }
            return new SafetensorsCheckpoint(modelDir, fileOf, new ArrayList<>(shards.values()));
        } catch (RuntimeException e) {
            shards.values().forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode weightMap = Json.readTree(index).path("weight_map");
        if (!weightMap.isObject() || weightMap.isEmpty()) {
            throw new TailorException(index + ": \"weight_map\" is missing or empty; re-download the model");
        }
        Map<String, String> result = new TreeMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            if (!e.getValue().isTextual()) {
                throw new TailorException(index + ": weight_map entry '" + e.getKey()
                        + "' is not a file name; re-download the model");
            }
            result.put(e.getKey(), e.getValue().textValue());
        }
        return result;
    }

    /**
     * The shard's path, which must lie inside the model directory. Checked on the names only:
     * Hugging Face's cache links shards to blobs elsewhere, which is fine; "../x" in an index is not.
     */
    private static Path shardPath(Path modelDir, Path index, String shardName) {
        Path dir = modelDir.toAbsolutePath().normalize();
        Path shard;
        try {
            shard = dir.resolve(shardName).normalize();
        } catch (InvalidPathException e) {
            shard = null;
        }
        if (shard == null || Path.of(shardName).isAbsolute() || !shard.startsWith(dir) || shard.equals(dir)) {
            throw new TailorException(index + ": shard '" + shardName
                    + "' is not a file inside the model directory; re-download the model");
        }
        if (!Files.isRegularFile(shard)) {
            throw new TailorException(index + ": shard '" + shardName + "' does not exist in " + modelDir
                    + "; re-download the model (all of its shards)");
        }
        return shard;
    }
}
