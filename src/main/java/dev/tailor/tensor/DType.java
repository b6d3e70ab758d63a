package dev.tailor.tensor;

import dev.tailor.TailorException;
import java.util.Locale;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types as safetensors names them, with their size and libtorch counterpart. */
public enum DType {
    F64("F64", 8, ScalarType.Double),
    F32("F32", 4, ScalarType.Float),
    BF16("BF16", 2, ScalarType.BFloat16),
    F16("F16", 2, ScalarType.Half),
    I64("I64", 8, ScalarType.Long),
    I32("I32", 4, ScalarType.Int),
    I16("I16", 2, ScalarType.Short),
    I8("I8", 1, ScalarType.Char),
    U8("U8", 1, ScalarType.Byte),
    BOOL("BOOL", 1, ScalarType.Bool),
    U16("U16", 2, ScalarType.UInt16),
    U32("U32", 4, null),
    U64("U64", 8, null),
    F8_E4M3("F8_E4M3", 1, ScalarType.Float8_e4m3fn),
    F8_E5M2("F8_E5M2", 1, ScalarType.Float8_e5m2);

    public final String safetensorsName;
    public final int bytes;
    private final ScalarType scalarType;

    DType(String safetensorsName, int bytes, ScalarType scalarType) {
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
        this.scalarType = scalarType;
    }

    public ScalarType scalarType() {
        if (scalarType == null) {
            throw new TailorException("dtype " + safetensorsName + " has no libtorch equivalent; convert the file to F32/BF16");
        }
        return scalarType;
    }

    public boolean isFloatingPoint() {
        return this == F64 || this == F32 || this == BF16 || this == F16 || this == F8_E4M3 || this == F8_E5M2;
    }

    /** The dtype of a safetensors header entry, or null when the name is not a safetensors dtype. */
    public static DType ofSafetensors(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        return null;
    }

    public static DType of(ScalarType type) {
        ScalarType canonical = type.intern(); // JavaCPP returns fresh enum objects from native calls
        for (DType d : values()) {
            if (d.scalarType == canonical) {
                return d;
            }
        }
        throw new IllegalArgumentException("no safetensors dtype for " + type);
    }

    /** Parses user-facing names: f32/float32, bf16/bfloat16, f16/float16. */
    public static DType parse(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "f32": case "float32": case "float": return F32;
            case "bf16": case "bfloat16": return BF16;
            case "f16": case "float16": case "half": return F16;
            default: throw new TailorException("unknown dtype '" + name + "'; use f32 or bf16");
        }
    }

    /** The name transformers writes in config.json's torch_dtype. */
    public String torchName() {
        switch (this) {
            case F32: return "float32";
            case BF16: return "bfloat16";
            case F16: return "float16";
            default: return name().toLowerCase(Locale.ROOT);
        }
    }
}
