package org.crossgpu;

/** Implemented by every exception crossgpu throws: the stable status code of the failure. */
public interface CrossGpuError {
    Status status();
}
