package org.crossgpu;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cluster from Java: a cluster in temporary folders, an in-process node serving this JVM's
 * devices on loopback, and clients joined with invites reaching them as remote devices.
 */
class ClusterTest {
    static CrossGpu gpu;
    static Node node;
    static Path ca;
    static String address;
    static final List<Path> folders = new ArrayList<>();

    @BeforeAll static void startNode() throws IOException {
        gpu = CrossGpu.openWithValidation();
        ca = folder("ca");
        Cluster.init(ca, "java-test", false);
        node = Node.start(gpu, ca, "127.0.0.1:0", 0);
        address = "127.0.0.1:" + node.port();
    }

    @AfterAll static void stopNode() throws IOException {
        node.close();
        gpu.close();
        for (Path dir : folders) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
        assertEquals("", CrossGpu.takeValidationMessages());
    }

    @AfterEach void noValidationMessages() { assertEquals("", CrossGpu.takeValidationMessages(), "Vulkan validation"); }

    static Path folder(String tag) throws IOException {
        Path dir = Files.createTempDirectory("crossgpu-java-" + tag);
        folders.add(dir);
        return dir;
    }

    /** A new identity of {@code role}, joined through the node. */
    static Path joined(Role role) throws IOException {
        Path dir = folder(role.name().toLowerCase());
        String token = Cluster.invite(ca, role, Duration.ofMinutes(10), List.of(address));
        assertTrue(token.startsWith("crossgpu-invite-v1:"));
        Cluster.join(dir, token, "java-" + role.name().toLowerCase(), false);
        return dir;
    }

    static ByteBuffer randomFloats(Random random, int n) {
        ByteBuffer b = Buffer.allocateDirect(n * 4);
        for (int i = 0; i < n; i++) b.putFloat(i * 4, random.nextFloat() - 0.5f);
        return b;
    }

    @Test void remoteDevicesThroughALocalNodeAreBitExact() throws IOException {
        Path dir = joined(Role.COMPUTE);
        long seed = new Random().nextLong();
        Random random = new Random(seed);
        try (CrossGpu client = CrossGpu.openWithValidation()) {
            int locals = client.devices().size();
            List<Device> remote = client.connect(dir, address);
            assertEquals(gpu.devices().size(), remote.size());
            assertEquals(locals + remote.size(), client.devices().size());
            int n = 40_009;
            for (Device d : remote) {
                assertTrue(d.isRemote(), d.toString());
                assertEquals(node.id(), d.nodeId());
                assertEquals(address, d.nodeAddress());
                assertTrue(d.id().startsWith(node.id() + "/"), d.id());
                ByteBuffer a = randomFloats(random, n), b = randomFloats(random, n);
                try (Buffer ba = d.allocate(n * 4L); Buffer bb = d.allocate(n * 4L); Buffer bo = d.allocate(n * 4L)) {
                    ba.upload(a, 0);
                    bb.upload(b, 0);
                    ByteBuffer back = Buffer.allocateDirect(n * 4);
                    ba.download(back, 0);
                    assertEquals(a, back, "upload/download round trip, seed " + seed);
                    Ops.add(ba, bb, bo, n);
                    bo.download(back, 0);
                    for (int i = 0; i < n; i++) {
                        float want = a.getFloat(i * 4) + b.getFloat(i * 4);
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(back.getFloat(i * 4)),
                                     "add at " + i + " on " + d + ", seed " + seed);
                    }
                }
                Telemetry t = d.telemetry();
                assertTrue(t.memoryTotal().measured() && t.memoryTotal().value().getAsLong() > 0);
                assertFalse(t.temperatureCelsius().measured());
                assertTrue(t.temperatureCelsius().source().contains("remote"), t.temperatureCelsius().source());
            }
            String status = Cluster.statusJson(dir, address);
            assertTrue(status.contains("\"nodes\"") && status.contains(node.id()) && status.contains("\"role\":\"compute\""), status);
        }
    }

    @Test void localTelemetryIsMeasuredOrSaysWhyNot() {
        for (Device d : gpu.devices()) {
            assertFalse(d.isRemote());
            assertEquals("", d.nodeId());
            Telemetry t = d.telemetry();
            long total = t.memoryTotal().value().orElseThrow();
            assertEquals(d.memoryTotalBytes(), total);
            assertEquals(total, t.memoryUsed().value().orElseThrow() + t.memoryFree().value().orElseThrow());
            for (Telemetry.Reading r : List.of(t.temperatureCelsius(), t.powerWatts(), t.clockMhz(), t.utilization())) {
                assertFalse(r.source().isEmpty(), "a reading without source or reason on " + d);
            }
            t.utilization().value().ifPresent(u -> assertTrue(u >= 0 && u <= 1, "utilization " + u));
        }
    }

    @Test void badClusterUseGivesTypedExceptions() throws IOException {
        Path empty = folder("empty");
        NoSuchElementException none = assertThrows(NoSuchElementException.class,
            () -> Cluster.invite(empty, Role.COMPUTE, Duration.ofMinutes(1), List.of(address)));
        assertEquals(Status.NOT_FOUND, ((CrossGpuError) none).status());
        assertThrows(IllegalArgumentException.class, () -> Cluster.init(ca, "again", false));
        assertThrows(IllegalArgumentException.class, () -> Cluster.invite(ca, Role.COMPUTE, Duration.ZERO, List.of(address)));
        assertThrows(NullPointerException.class, () -> Cluster.invite(ca, null, Duration.ofMinutes(1), List.of(address)));
        assertThrows(IllegalArgumentException.class, () -> Cluster.join(empty, "crossgpu-invite-v1:forged", null, false));
        assertThrows(IllegalArgumentException.class, () -> Cluster.join(empty, null, null, false));
        assertThrows(NoSuchElementException.class, () -> gpu.connect(empty, address));
        assertThrows(IllegalArgumentException.class, () -> Node.start(gpu, ca, null, 0));
        assertThrows(IllegalArgumentException.class, () -> Node.start(gpu, ca, "127.0.0.1:0", -1));
        Exceptions.CrossGpuException lost = assertThrows(Exceptions.CrossGpuException.class, () -> gpu.connect(ca, "127.0.0.1:1"));
        assertEquals(Status.DEVICE_LOST, lost.status());

        Path monitor = joined(Role.MONITOR);
        try (CrossGpu watcher = CrossGpu.openWithValidation()) {
            Device remote = watcher.connect(monitor, address).get(0);
            SecurityException denied = assertThrows(SecurityException.class, () -> remote.allocate(64));
            assertEquals(Status.PERMISSION_DENIED, ((CrossGpuError) denied).status());
            assertThrows(SecurityException.class, () -> Cluster.remove(monitor, node.id()));
            assertThrows(IllegalArgumentException.class, () -> watcher.connect(monitor, address)); // already there
        }

        Node second = Node.start(gpu, ca, "127.0.0.1:0", 1 << 20);
        assertTrue(second.port() > 0 && second.port() != node.port());
        second.close();
        assertTrue(second.isClosed());
        assertThrows(IllegalStateException.class, second::port);
        second.close(); // twice is fine
    }
}
