package org.crossgpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Entry point: the devices of this machine. Thread-safe. Devices stay usable after the CrossGpu
 * object is closed; each Device is closed on its own (or by the Cleaner when unreachable).
 *
 * <pre>
 * try (CrossGpu gpu = CrossGpu.open(); Buffer b = gpu.devices().get(0).allocate(1024)) { ... }
 * </pre>
 */
public final class CrossGpu implements AutoCloseable {
    private final Handle registry;
    private final List<Device> devices;

    private CrossGpu(boolean validation) {
        long handle = Native.registryCreate(validation);
        registry = new Handle(handle, Native::registryFree, this);
        int count = Native.registryDeviceCount(handle);
        List<Device> list = new ArrayList<>();
        for (int i = 0; i < count; i++) list.add(new Device(Native.registryDevice(handle, i)));
        devices = Collections.unmodifiableList(list);
    }

    public static CrossGpu open() { return new CrossGpu(false); }

    /** With the Vulkan validation layers on (for tests). */
    public static CrossGpu openWithValidation() { return new CrossGpu(true); }

    public static int abiVersion() { return Native.abiVersion(); }

    public List<Device> devices() { return devices; }

    @Override public void close() { registry.close(); }
}
