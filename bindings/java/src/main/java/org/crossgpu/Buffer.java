package org.crossgpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Device memory. Close it when done (try-with-resources); a Cleaner frees it if it becomes
 * unreachable, but that may come late. Transfers take direct ByteBuffers only, read and written
 * in place (no hidden copy); a heap ByteBuffer is refused with IllegalArgumentException.
 */
public final class Buffer implements AutoCloseable {
    private final Handle handle;

    Buffer(long nativeHandle) { handle = new Handle(nativeHandle, Native::bufferFree, this); }

    long handle() { return handle.get(); }

    public long size() { return Native.bufferSize(handle()); }

    public boolean isClosed() { return handle.closed(); }

    /** Copies data.remaining() bytes from data's position into the buffer at offset; waits. */
    public void upload(ByteBuffer data, long offset) {
        requireDirect(data);
        Native.upload(handle(), offset, data, data.position(), data.remaining());
    }

    /** Fills out.remaining() bytes of out from the buffer at offset; waits. */
    public void download(ByteBuffer out, long offset) {
        requireDirect(out);
        if (out.isReadOnly()) throw new IllegalArgumentException("the destination ByteBuffer is read-only");
        Native.download(handle(), offset, out, out.position(), out.remaining());
    }

    /**
     * A ByteBuffer over the buffer's own memory (host-visible buffers, UMA devices, lavapipe):
     * writes through it are what the device reads, and device writes appear in it. It must not be
     * used after close().
     */
    public ByteBuffer map() { return Native.bufferMap(handle()).order(ByteOrder.nativeOrder()); }

    /** A direct native-order ByteBuffer, the form transfers take. */
    public static ByteBuffer allocateDirect(int bytes) { return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder()); }

    @Override public void close() { handle.close(); }

    private static void requireDirect(ByteBuffer b) {
        if (b == null) throw new NullPointerException("buffer");
        if (!b.isDirect()) {
            throw new IllegalArgumentException("a direct ByteBuffer is required (ByteBuffer.allocateDirect); crossgpu does not copy heap buffers silently");
        }
    }
}
