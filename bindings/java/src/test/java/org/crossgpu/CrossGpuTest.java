package org.crossgpu;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.ArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java binding against the real native library: lavapipe and the CPU device in CI. */
class CrossGpuTest {
    static CrossGpu gpu;

    @BeforeAll static void open() { gpu = CrossGpu.openWithValidation(); }

    @AfterAll static void close() {
        gpu.close();
        assertEquals("", CrossGpu.takeValidationMessages());
    }

    /** The suite fails on any Vulkan validation message (the registry runs with validation on). */
    @AfterEach void noValidationMessages() { assertEquals("", CrossGpu.takeValidationMessages(), "Vulkan validation"); }

    static ByteBuffer floats(float[] values) {
        ByteBuffer b = Buffer.allocateDirect(values.length * 4);
        b.asFloatBuffer().put(values);
        return b;
    }

    @Test void abiAndDevices() {
        assertEquals(1, CrossGpu.abiVersion());
        List<Device> devices = gpu.devices();
        assertTrue(devices.size() >= 2, "lavapipe and the CPU expected: " + devices);
        assertTrue(devices.stream().anyMatch(d -> d.backend().equals("vulkan")));
        for (Device d : devices) {
            assertFalse(d.id().isEmpty());
            assertTrue(d.memoryTotalBytes() > 0);
        }
    }

    @Test void uploadAddDownloadMatchesJava() {
        Random random = new Random();
        long seed = random.nextLong();
        random.setSeed(seed);
        int n = 100_003;
        float[] a = new float[n], b = new float[n];
        for (int i = 0; i < n; i++) { a[i] = random.nextFloat() - 0.5f; b[i] = random.nextFloat() - 0.5f; }
        for (Device d : gpu.devices()) {
            try (Buffer ba = d.allocate(n * 4L); Buffer bb = d.allocate(n * 4L); Buffer bo = d.allocate(n * 4L)) {
                ba.upload(floats(a), 0);
                bb.upload(floats(b), 0);
                Ops.add(ba, bb, bo, n);
                ByteBuffer out = Buffer.allocateDirect(n * 4);
                bo.download(out, 0);
                FloatBuffer f = out.asFloatBuffer();
                for (int i = 0; i < n; i++) assertEquals(a[i] + b[i], f.get(i), 0.0f, "seed " + seed + " at " + i + " on " + d);
            }
        }
    }

    @Test void mappedByteBufferIsZeroCopyBothWays() {
        for (Device d : gpu.devices()) {
            try (Buffer buffer = d.allocateHostVisible(4096)) {
                ByteBuffer view = buffer.map();
                assertTrue(view.isDirect());
                assertEquals(4096, view.capacity());
                view.asFloatBuffer().put(0, 42.0f);             // host write through the view...
                ByteBuffer out = Buffer.allocateDirect(4);
                buffer.download(out, 0);                         // ...is what the device holds
                assertEquals(42.0f, out.getFloat(0));
                Ops.fill(buffer, 1024, 7.0f);                    // device write...
                assertEquals(7.0f, view.asFloatBuffer().get(5)); // ...seen without a copy
            }
        }
    }

    @Test void badInputGivesTypedJavaExceptions() {
        Device d = gpu.devices().get(0);
        Buffer buffer = d.allocate(64);
        ByteBuffer heap = ByteBuffer.allocate(16);
        assertThrows(IllegalArgumentException.class, () -> buffer.upload(heap, 0));
        assertThrows(NullPointerException.class, () -> buffer.upload(null, 0));
        IndexOutOfBoundsException range = assertThrows(IndexOutOfBoundsException.class,
            () -> buffer.upload(Buffer.allocateDirect(128), 0));
        assertEquals(Status.OUT_OF_RANGE, ((CrossGpuError) range).status());
        assertThrows(IllegalArgumentException.class, () -> buffer.upload(Buffer.allocateDirect(4), -1));
        assertThrows(IllegalArgumentException.class, () -> d.allocate(-5));
        assertThrows(IllegalArgumentException.class, () -> d.allocate(0));
        assertThrows(Exceptions.DeviceOutOfMemoryException.class, () -> d.allocate(1L << 52));
        assertThrows(IllegalArgumentException.class, () -> buffer.download(Buffer.allocateDirect(8).asReadOnlyBuffer(), 0));
        buffer.close();
        assertTrue(buffer.isClosed());
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> buffer.upload(Buffer.allocateDirect(4), 0));
        assertTrue(closed.getMessage().contains("closed"));
        assertThrows(IllegalStateException.class, buffer::size);
        buffer.close(); // twice is fine
    }

    @Test void buffersOfTwoDevicesAreRefusedAndCopyable() {
        List<Device> devices = gpu.devices();
        try (Buffer a = devices.get(0).allocate(64); Buffer b = devices.get(1).allocate(64)) {
            assertThrows(Exceptions.WrongDeviceException.class, () -> Ops.add(a, a, b, 16));
            a.upload(floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}), 0);
            Ops.copy(a, 0, b, 0, 64);
            ByteBuffer out = Buffer.allocateDirect(64);
            b.download(out, 0);
            assertEquals(16.0f, out.getFloat(60));
        }
    }

    @Test void threadSafeUnderConcurrentUse() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<Float>> results = new ArrayList<>();
        for (int t = 0; t < 16; t++) {
            final int id = t;
            results.add(pool.submit(() -> {
                Device d = gpu.devices().get(id % gpu.devices().size());
                try (Buffer x = d.allocate(4096); Buffer y = d.allocate(4096)) {
                    Ops.fill(x, 1024, id);
                    Ops.scale(x, y, 1024, 2.0f);
                    ByteBuffer out = Buffer.allocateDirect(4);
                    y.download(out, 4092);
                    return out.getFloat(0);
                }
            }));
        }
        for (int t = 0; t < 16; t++) assertEquals(2.0f * t, results.get(t).get());
        pool.shutdown();
    }

    @Test void cleanerFreesUnclosedBuffers() throws Exception {
        Device d = gpu.devices().get(0);
        for (int i = 0; i < 200; i++) d.allocate(1 << 20);  // never closed: the Cleaner must free them
        for (int i = 0; i < 20; i++) {
            System.gc();
            Thread.sleep(20);
        }
        try (Buffer b = d.allocate(1 << 20)) {
            assertEquals(1 << 20, b.size());
        }
    }
}
