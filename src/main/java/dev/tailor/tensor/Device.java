package dev.tailor.tensor;

import dev.tailor.TailorException;
import java.util.Locale;
import org.bytedeco.pytorch.global.torch;

/** Where tensors live. A setting (--device), never hard-coded: the same code runs on CUDA builds. */
public enum Device {
    CPU, CUDA;

    public org.bytedeco.pytorch.Device torchDevice() {
        return new org.bytedeco.pytorch.Device(this == CPU ? torch.DeviceType.CPU : torch.DeviceType.CUDA);
    }

    /** Where a tensor lives. */
    public static Device of(org.bytedeco.pytorch.Tensor t) {
        return t.is_cuda() ? CUDA : CPU;
    }

    public static Device parse(String name) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "cpu": return CPU;
            case "cuda": case "gpu":
                if (!torch.cuda_is_available()) {
                    throw new TailorException("--device cuda: no CUDA device or this build has CPU-only libtorch; "
                            + "build with 'mvn -Pcuda package' on a machine with a GPU, or use --device cpu");
                }
                return CUDA;
            default: throw new TailorException("unknown device '" + name + "'; use cpu or cuda");
        }
    }
}
