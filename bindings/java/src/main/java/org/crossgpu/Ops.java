package org.crossgpu;

/** Kernels on device buffers (f32 elements unless stated). Each waits for completion. */
public final class Ops {
    private Ops() {}

    public static void fill(Buffer out, long n, float value) { Native.fill(out.handle(), n, value); }
    public static void add(Buffer a, Buffer b, Buffer out, long n) { Native.add(a.handle(), b.handle(), out.handle(), n); }
    public static void scale(Buffer x, Buffer out, long n, float alpha) { Native.scale(x.handle(), out.handle(), n, alpha); }
    /** C[m x n] = A[m x k] * B[k x n]; f16 inputs when f16 is true; C is f32. */
    public static void matmul(Buffer a, Buffer b, Buffer c, long m, long n, long k, boolean f16) {
        Native.matmul(a.handle(), b.handle(), c.handle(), m, n, k, f16);
    }
    /** y[rows] = A[rows x cols] * x[cols]; A f16 when f16 is true. */
    public static void matvec(Buffer a, Buffer x, Buffer y, long rows, long cols, boolean f16) {
        Native.matvec(a.handle(), x.handle(), y.handle(), rows, cols, f16);
    }
    /** Copies between buffers of the same or different devices. */
    public static void copy(Buffer src, long srcOffset, Buffer dst, long dstOffset, long bytes) {
        Native.copy(src.handle(), srcOffset, dst.handle(), dstOffset, bytes);
    }
}
