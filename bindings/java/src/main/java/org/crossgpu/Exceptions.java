package org.crossgpu;

/**
 * The exceptions of crossgpu. Each extends the Java exception a Java programmer would expect for
 * that kind of failure (IllegalArgumentException, IndexOutOfBoundsException,
 * IllegalStateException for a closed object...) and implements {@link CrossGpuError}.
 */
public final class Exceptions {
    private Exceptions() {}

    public static class InvalidArgumentException extends IllegalArgumentException implements CrossGpuError {
        private final Status status;
        InvalidArgumentException(Status status, String message) { super(message); this.status = status; }
        @Override public Status status() { return status; }
    }

    public static class OutOfRangeException extends IndexOutOfBoundsException implements CrossGpuError {
        OutOfRangeException(String message) { super(message); }
        @Override public Status status() { return Status.OUT_OF_RANGE; }
    }

    public static class ClosedException extends IllegalStateException implements CrossGpuError {
        ClosedException(String message) { super(message); }
        @Override public Status status() { return Status.FREED_HANDLE; }
    }

    public static class WrongDeviceException extends IllegalArgumentException implements CrossGpuError {
        WrongDeviceException(String message) { super(message); }
        @Override public Status status() { return Status.WRONG_DEVICE; }
    }

    public static class UnsupportedException extends UnsupportedOperationException implements CrossGpuError {
        UnsupportedException(String message) { super(message); }
        @Override public Status status() { return Status.UNSUPPORTED; }
    }

    /** The caller's cluster identity or role does not allow this (a monitor allocating, a removed node). */
    public static class PermissionDeniedException extends SecurityException implements CrossGpuError {
        PermissionDeniedException(String message) { super(message); }
        @Override public Status status() { return Status.PERMISSION_DENIED; }
    }

    /** A named thing does not exist: a config folder without an identity, a device id, a file. */
    public static class NotFoundException extends java.util.NoSuchElementException implements CrossGpuError {
        NotFoundException(String message) { super(message); }
        @Override public Status status() { return Status.NOT_FOUND; }
    }

    /** Device memory is exhausted (not the JVM's heap: that is java.lang.OutOfMemoryError). */
    public static class DeviceOutOfMemoryException extends RuntimeException implements CrossGpuError {
        DeviceOutOfMemoryException(String message) { super(message); }
        @Override public Status status() { return Status.OUT_OF_MEMORY; }
    }

    /** Any other failure: device lost (also a node that cannot be reached), timeout, backend failure, I/O. */
    public static class CrossGpuException extends RuntimeException implements CrossGpuError {
        private final Status status;
        CrossGpuException(Status status, String message) { super(message); this.status = status; }
        @Override public Status status() { return status; }
    }

    /** Called from JNI: the exception object for a failed C ABI call. */
    static RuntimeException of(int code, String message) {
        Status status = Status.of(code);
        switch (status) {
            case INVALID_ARGUMENT: case MISALIGNED: return new InvalidArgumentException(status, message);
            case OUT_OF_RANGE: return new OutOfRangeException(message);
            case FREED_HANDLE: return new ClosedException(message);
            case WRONG_DEVICE: return new WrongDeviceException(message);
            case UNSUPPORTED: return new UnsupportedException(message);
            case OUT_OF_MEMORY: return new DeviceOutOfMemoryException(message);
            case PERMISSION_DENIED: return new PermissionDeniedException(message);
            case NOT_FOUND: return new NotFoundException(message);
            default: return new CrossGpuException(status, message);
        }
    }
}
