package org.crossgpu;

/** One device: a GPU through Vulkan, or the CPU; of this machine or of a cluster node. Thread-safe. */
public final class Device implements AutoCloseable {
    private final Handle handle;
    private final String[] strings;
    private final String[] location;

    Device(long nativeHandle) {
        handle = new Handle(nativeHandle, Native::deviceRelease, this);
        strings = Native.deviceStrings(nativeHandle);
        location = Native.deviceLocation(nativeHandle);
    }

    long handle() { return handle.get(); }

    /**
     * Stable id (Vulkan deviceUUID in hex, or cpu-&lt;machine id&gt;); for a remote device
     * "&lt;node id&gt;/&lt;device id&gt;".
     */
    public String id() { return strings[0]; }
    public String name() { return strings[1]; }
    public String vendor() { return strings[2]; }
    public String type() { return strings[3]; }
    public String backend() { return strings[4]; }
    public String driverVersion() { return strings[5]; }
    public long memoryTotalBytes() { return Native.deviceNumbers(handle())[0]; }
    public long memoryFreeBytes() { return Native.deviceNumbers(handle())[1]; }
    public long maxAllocationBytes() { return Native.deviceNumbers(handle())[2]; }
    public boolean supportsF16Storage() { return Native.deviceNumbers(handle())[3] != 0; }
    public boolean unifiedMemory() { return Native.deviceNumbers(handle())[4] != 0; }

    /** True for a device of another node, reached through the cluster. */
    public boolean isRemote() { return !location[0].isEmpty(); }
    /** The node serving a remote device ("" for a local one). */
    public String nodeId() { return location[0]; }
    /** host:port the node was reached at ("" for a local device). */
    public String nodeAddress() { return location[1]; }

    /** The device's metrics now; a remote device's sensors are reported as not measured. */
    public Telemetry telemetry() { return Telemetry.of(Native.deviceTelemetry(handle())); }

    public Buffer allocate(long bytes) { return new Buffer(Native.bufferAlloc(handle(), bytes, false)); }

    /** Host-visible memory: {@link Buffer#map()} gives a zero-copy ByteBuffer of it. */
    public Buffer allocateHostVisible(long bytes) { return new Buffer(Native.bufferAlloc(handle(), bytes, true)); }

    public void synchronize() { Native.deviceSynchronize(handle()); }

    @Override public void close() { handle.close(); }

    @Override public String toString() { return "Device[" + name() + ", " + backend() + ", " + id() + "]"; }
}
