package org.crossgpu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/** The JNI entry points over the C ABI. Handles are the C ABI's 64-bit handles. */
final class Native {
    private Native() {}

    /**
     * Where the native library comes from, first found wins: the crossgpu.library property (tests,
     * a library built elsewhere), the jar itself (the all-in-one jar carries it for its platform
     * under org/crossgpu/native/OS-ARCH/), then java.library.path (Android's APK, a system package).
     */
    static {
        String path = System.getProperty("crossgpu.library");
        if (path != null) {
            System.load(path);
        } else {
            Path fromJar = extractFromJar();
            if (fromJar != null) {
                System.load(fromJar.toString());
            } else {
                System.loadLibrary("crossgpu_jni");
            }
        }
    }

    /** The resource folder of this platform's library inside the jar, e.g. "linux-amd64". */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase().replace(" ", "");
        return os + "-" + System.getProperty("os.arch", "");
    }

    /**
     * Copies the jar's native library into a private temporary folder and returns its path, or
     * null when the jar has none for this platform. The JVM cannot load a library from inside a
     * jar; the copy is deleted when the JVM exits.
     */
    private static Path extractFromJar() {
        String name = System.mapLibraryName("crossgpu_jni");
        String resource = "/org/crossgpu/native/" + platform() + "/" + name;
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in == null) return null;
            Path dir = Files.createTempDirectory("crossgpu-jni",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            Path library = dir.resolve(name);
            Files.copy(in, library, StandardCopyOption.REPLACE_EXISTING);
            library.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return library;
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract " + resource + " from the crossgpu jar: " + e);
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

    /** node id, node address, id on the node: all "" for a local device. */
    static native String[] deviceLocation(long device);
    /** {long[4] memory total/used/free/budget, double[4] temperature/power/clock/utilization, boolean[8] measured, String[8] sources}. */
    static native Object[] deviceTelemetry(long device);
    static native long validationMessageCount();
    static native String validationMessagesTake();

    static native void clusterInit(String configDir, String name, boolean force);
    static native String clusterInvite(String configDir, int role, long validForSeconds, String addresses);
    static native void clusterJoin(String configDir, String token, String nodeName, boolean force);
    static native void clusterRemove(String configDir, String nodeId);
    static native String clusterStatusJson(String configDir, String address);
    static native long nodeStart(String configDir, String listenAddress, long registry, long quotaBytes);
    static native int nodePort(long node);
    static native String nodeId(long node);
    static native void nodeStop(long node);
    /** Returns how many devices were added. */
    static native int registryConnect(long registry, String configDir, String address);

    static native void fill(long out, long n, float value);
    static native void add(long a, long b, long out, long n);
    static native void scale(long x, long out, long n, float alpha);
    static native void matmul(long a, long b, long c, long m, long n, long k, boolean f16);
    static native void matvec(long a, long x, long y, long rows, long cols, boolean f16);
}
