"""The Python binding against the real library: lavapipe and the CPU device in CI."""
import asyncio
import threading

import numpy as np
import pytest

import crossgpu
from crossgpu.backend import CrossGpuBackend


def rng():
    seed = np.random.SeedSequence().entropy
    print("seed", seed)
    return np.random.default_rng(seed)


def test_devices_have_stable_properties(devices):
    again = crossgpu.Registry().devices()
    assert [d.id for d in devices] == [d.id for d in again]
    for d in devices:
        props = d.properties()
        assert props["id"] == d.id and props["name"] == d.name
        assert any(h["device_local"] and h["total_bytes"] > 0 for h in props["heaps"])


def test_round_trip_and_ops_match_numpy(device):
    r = rng()
    n = 100_003
    a, b = r.standard_normal(n, dtype=np.float32), r.standard_normal(n, dtype=np.float32)
    with device.allocate(a.nbytes) as ba, device.allocate(b.nbytes) as bb, device.allocate(a.nbytes) as bo:
        ba.upload(a)
        bb.upload(b)
        crossgpu.ops.add(ba, bb, bo, n).wait()
        out = np.empty_like(a)
        bo.download(out)
        np.testing.assert_array_equal(out, a + b)
        crossgpu.ops.matvec(ba, bb, bo, 100, 1000).wait()
        y = np.empty(100, dtype=np.float32)
        bo.download(y)
        np.testing.assert_allclose(y, a[:100_000].reshape(100, 1000) @ b[:1000], rtol=1e-4, atol=1e-3)


def test_f16_matmul(device):
    if not device.properties()["caps"]["storage_16bit"]:
        pytest.skip("no 16-bit storage")
    r = rng()
    a = r.standard_normal((33, 65)).astype(np.float16)
    b = r.standard_normal((65, 17)).astype(np.float16)
    with device.allocate(a.nbytes) as ba, device.allocate(b.nbytes) as bb, device.allocate(33 * 17 * 4) as bc:
        ba.upload(a)
        bb.upload(b)
        crossgpu.ops.matmul(ba, bb, bc, 33, 17, 65, dtype="float16").wait()
        c = np.empty((33, 17), dtype=np.float32)
        bc.download(c)
        np.testing.assert_allclose(c, a.astype(np.float32) @ b.astype(np.float32), rtol=1e-3, atol=1e-3)


def test_zero_copy_view_is_the_same_memory_both_ways(device):
    with device.allocate(4096, host_visible=True) as buf:
        view = buf.numpy(np.float32)
        assert view.shape == (1024,)
        view[:] = np.arange(1024, dtype=np.float32)  # host writes through the view...
        out = np.empty(1024, dtype=np.float32)
        buf.download(out)  # ...are what the device sees
        np.testing.assert_array_equal(out, np.arange(1024, dtype=np.float32))
        crossgpu.ops.fill(buf, 1024, 7.0).wait()  # device writes...
        assert (view == 7.0).all()  # ...appear in the view without a copy
        assert view.base is not None


def test_view_keeps_the_buffer_alive(device):
    buf = device.allocate(64, host_visible=True)
    view = buf.numpy(np.uint8)
    del buf
    view[:] = 3  # must not crash: the view owns a reference to the buffer
    assert view.sum() == 3 * 64


def test_wrong_dtype_and_non_contiguous_are_refused_not_copied(device):
    with device.allocate(4096) as buf:
        strided = np.zeros(2048, dtype=np.float32)[::2]
        with pytest.raises(crossgpu.InvalidArgumentError, match="C-contiguous"):
            buf.upload(strided)
        with pytest.raises(crossgpu.InvalidArgumentError, match="read-only"):
            ro = np.zeros(16, dtype=np.float32)
            ro.flags.writeable = False
            buf.download(ro)
        with pytest.raises(crossgpu.InvalidArgumentError, match="dtype float32"):
            buf.upload(np.zeros(16, dtype=np.float64), dtype=np.float32)
        with pytest.raises(crossgpu.InvalidArgumentError, match="dtype float32"):
            buf.download(np.zeros(16, dtype=np.int32), dtype="float32")
        buf.upload(np.zeros(16, dtype=np.float32), dtype=np.float32)
        with pytest.raises(crossgpu.InvalidArgumentError):
            crossgpu.ops.matmul(buf, buf, buf, 2, 2, 2, dtype="int8")


def test_bad_input_raises_the_natural_python_error(device):
    buf = device.allocate(64)
    with pytest.raises(crossgpu.OutOfRangeError) as info:
        buf.upload(np.zeros(32, dtype=np.float32))  # 128 bytes into 64
    assert info.value.code == "out_of_range"
    with pytest.raises(IndexError):
        buf.upload(np.zeros(4, dtype=np.uint8), offset=62)
    with pytest.raises(crossgpu.InvalidArgumentError, match="negative"):
        buf.upload(np.zeros(4, dtype=np.uint8), offset=-1)  # negative sizes never reach C++
    with pytest.raises(ValueError):
        device.allocate(-8)
    with pytest.raises(MemoryError):
        device.allocate(1 << 52)
    with pytest.raises(crossgpu.InvalidArgumentError):
        device.allocate(0)
    buf.close()
    assert buf.closed
    with pytest.raises(crossgpu.ClosedError):
        buf.upload(np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError):
        _ = buf.nbytes
    buf.close()  # closing twice is fine


def test_buffers_of_two_devices_are_wrong_device(devices):
    if len(devices) < 2:
        pytest.skip("one device")
    a, b = devices[0].allocate(64), devices[1].allocate(64)
    with pytest.raises(crossgpu.WrongDeviceError):
        crossgpu.ops.add(a, a, b, 16)
    data = np.arange(16, dtype=np.float32)
    a.upload(data)
    crossgpu.copy(a, b, 64)
    out = np.empty(16, dtype=np.float32)
    b.download(out)
    np.testing.assert_array_equal(out, data)


def test_waits_release_the_gil(device):
    # A Python thread keeps counting while the main thread waits on device work.
    n = 4_000_000
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    with device.allocate(n * 4) as a, device.allocate(n * 4) as b:
        crossgpu.ops.fill(a, n, 1.0).wait()
        t = threading.Thread(target=count)
        t.start()
        for _ in range(5):
            crossgpu.ops.scale(a, b, n, 2.0).wait()
        stop.set()
        t.join()
    assert ticks > 0


def test_events_are_awaitable(device):
    async def run():
        n = 1 << 16
        with device.allocate(n * 4) as a, device.allocate(n * 4) as b:
            a.upload(np.ones(n, dtype=np.float32))
            await crossgpu.ops.scale(a, b, n, 3.0)
            out = np.empty(n, dtype=np.float32)
            await b.download(out, wait=False)
            return out
    out = asyncio.run(run())
    assert (out == 3.0).all()


def test_exo_backend_interface(devices):
    async def run():
        backend = CrossGpuBackend()
        await backend.initialize()
        listed = backend.list_devices()
        assert [d.device_id for d in listed] == [d.id for d in devices]
        dev = listed[0].device_id
        handle = await backend.allocate(dev, 1024)
        await backend.copy_to_device(bytes(range(256)) * 4, handle)
        assert await backend.copy_from_device(handle, 256, 256) == bytes(range(256))
        other = await backend.allocate(listed[-1].device_id, 1024)
        await backend.copy_device_to_device(handle, other, 1024)
        assert await backend.copy_from_device(other, 0, 4) == bytes([0, 1, 2, 3])
        await backend.synchronize(dev)
        info = await backend.get_device_memory_info(dev)
        assert info["total_bytes"] > 0 and info["reserved_bytes"] >= 1024
        temperature = await backend.get_device_temperature(dev)
        assert temperature is None or temperature > 0  # unmeasured is None, never invented
        await backend.deallocate(handle)
        with pytest.raises(ValueError):
            await backend.deallocate(handle)
        with pytest.raises(ValueError):
            backend.get_device("nope") or backend._device("nope")
        await backend.shutdown()
    asyncio.run(run())
