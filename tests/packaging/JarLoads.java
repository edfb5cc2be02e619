// Run by test_java_jar with only the all-in-one jar on the class path, no crossgpu.library
// property and an empty java.library.path: the native library can only come from the jar.
import org.crossgpu.CrossGpu;
import org.crossgpu.Device;

public final class JarLoads {
    public static void main(String[] args) {
        int abi = CrossGpu.abiVersion();
        if (abi < 1) throw new AssertionError("abi version " + abi);
        try (CrossGpu gpu = CrossGpu.openWithValidation()) {
            if (gpu.devices().isEmpty()) throw new AssertionError("no devices");
            for (Device device : gpu.devices()) System.out.println("device: " + device.name());
        }
        long messages = CrossGpu.validationMessageCount();
        if (messages != 0) throw new AssertionError(CrossGpu.takeValidationMessages());
        System.out.println("crossgpu jar loaded its native library, abi " + abi);
    }
}
