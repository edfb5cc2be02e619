package org.crossgpu;

/** The stable status codes of the C ABI (crossgpu.h), in the same order. */
public enum Status {
    OK, INVALID_ARGUMENT, OUT_OF_RANGE, OUT_OF_MEMORY, UNSUPPORTED, NOT_FOUND, WRONG_DEVICE,
    FREED_HANDLE, MISALIGNED, DEVICE_LOST, TIMEOUT, BACKEND_FAILURE, IO, INTERNAL, PERMISSION_DENIED;

    static Status of(int code) {
        Status[] all = values();
        return code >= 0 && code < all.length ? all[code] : INTERNAL;
    }
}
