package org.crossgpu;

import java.nio.file.Path;

/**
 * An in-process node: serves the local devices of a {@link CrossGpu} to the cluster over mutual
 * TLS with the identity of a config folder, until closed. This lets a Java or Android application
 * be a node. Thread-safe.
 */
public final class Node implements AutoCloseable {
    private final Handle handle;

    private Node(long nativeHandle) { handle = new Handle(nativeHandle, Native::nodeStop, this); }

    /**
     * Starts serving on {@code listenAddress} ("0.0.0.0:7450"; port 0 picks a free one).
     * {@code quotaBytes}: device memory each client session may hold, 0 for unlimited.
     */
    public static Node start(CrossGpu gpu, Path configDir, String listenAddress, long quotaBytes) {
        if (quotaBytes < 0) throw new IllegalArgumentException("quotaBytes must not be negative, got " + quotaBytes);
        return new Node(Native.nodeStart(Cluster.text(configDir), listenAddress, gpu.handle(), quotaBytes));
    }

    /** The bound port. */
    public int port() { return Native.nodePort(handle.get()); }

    /** This node's id in the cluster (32 hex digits). */
    public String id() { return Native.nodeId(handle.get()); }

    public boolean isClosed() { return handle.closed(); }

    /** Stops accepting calls, lets running ones finish, frees every client session. */
    @Override public void close() { handle.close(); }
}
