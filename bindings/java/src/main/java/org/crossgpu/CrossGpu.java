package org.crossgpu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Entry point: the devices of this machine, and of cluster nodes once connected. Thread-safe.
 * Devices stay usable after the CrossGpu object is closed; each Device is closed on its own (or by
 * the Cleaner when unreachable).
 *
 * <pre>
 * try (CrossGpu gpu = CrossGpu.open(); Buffer b = gpu.devices().get(0).allocate(1024)) { ... }
 * </pre>
 */
public final class CrossGpu implements AutoCloseable {
    private final Handle registry;
    private final List<Device> devices = new ArrayList<>();

    private CrossGpu(boolean validation) {
        long handle = Native.registryCreate(validation);
        registry = new Handle(handle, Native::registryFree, this);
        addDevices(handle, 0);
    }

    public static CrossGpu open() { return new CrossGpu(false); }

    /** With the Vulkan validation layers on (for tests). */
    public static CrossGpu openWithValidation() { return new CrossGpu(true); }

    public static int abiVersion() { return Native.abiVersion(); }

    /** Vulkan validation-layer messages reported in this process so far. */
    public static long validationMessageCount() { return Native.validationMessageCount(); }

    /** The validation messages reported since the last call, one per line ("" when none). */
    public static String takeValidationMessages() { return Native.validationMessagesTake(); }

    /** A snapshot: local devices first, then those of connected nodes. */
    public synchronized List<Device> devices() { return List.copyOf(devices); }

    /**
     * Connects to the node at {@code address} (host:port) with the identity in {@code configDir}
     * (null: the default folder) and adds its devices as remote devices, which are used like local
     * ones. Returns the added devices.
     */
    public synchronized List<Device> connect(Path configDir, String address) {
        long handle = registry.get();
        int before = Native.registryDeviceCount(handle);
        Native.registryConnect(handle, Cluster.text(configDir), address);
        return addDevices(handle, before);
    }

    long handle() { return registry.get(); }

    @Override public void close() { registry.close(); }

    private List<Device> addDevices(long handle, int from) {
        int count = Native.registryDeviceCount(handle);
        List<Device> added = new ArrayList<>();
        for (int i = from; i < count; i++) added.add(new Device(Native.registryDevice(handle, i)));
        devices.addAll(added);
        return Collections.unmodifiableList(added);
    }
}
