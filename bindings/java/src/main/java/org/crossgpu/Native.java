package org.crossgpu;

import java.nio.ByteBuffer;

/** The JNI entry points over the C ABI. Handles are the C ABI's 64-bit handles. */
final class Native {
    private Native() {}

    static {
        String path = System.getProperty("crossgpu.library");
        if (path != null) {
            System.load(path);
        } else {
            System.loadLibrary("crossgpu_jni");
        }
    }

    static native int abiVersion();

    static native long registryCreate(boolean validation);
    static native void registryFree(long registry);
    static native int registryDeviceCount(long registry);
    static native long registryDevice(long registry, int index);

    static native void deviceRelease(long device);
    /** id, name, vendor, type, backend, driver version. */
    static native String[] deviceStrings(long device);
    /** memory total, memory free, max allocation, storage16 (0/1), unified memory (0/1). */
    static native long[] deviceNumbers(long device);
    static native void deviceSynchronize(long device);

    static native long bufferAlloc(long device, long bytes, boolean hostVisible);
    static native void bufferFree(long buffer);
    static native long bufferSize(long buffer);
    static native ByteBuffer bufferMap(long buffer);
    static native void upload(long buffer, long offset, ByteBuffer direct, int position, int length);
    static native void download(long buffer, long offset, ByteBuffer direct, int position, int length);
    static native void copy(long src, long srcOffset, long dst, long dstOffset, long bytes);

    static native void fill(long out, long n, float value);
    static native void add(long a, long b, long out, long n);
    static native void scale(long x, long out, long n, float alpha);
    static native void matmul(long a, long b, long c, long m, long n, long k, boolean f16);
    static native void matvec(long a, long x, long y, long rows, long cols, boolean f16);
}
