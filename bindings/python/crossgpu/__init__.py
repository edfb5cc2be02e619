"""crossgpu for Python: the devices of this machine and of cluster nodes as one model.

    import crossgpu, numpy as np
    registry = crossgpu.Registry()
    gpu = registry.devices()[0]
    with gpu.allocate(4 * 1024) as a, gpu.allocate(4 * 1024) as b:
        a.upload(np.arange(1024, dtype=np.float32))
        crossgpu.ops.scale(a, b, 1024, 2.0).wait()
        out = np.empty(1024, dtype=np.float32)
        b.download(out)

Arrays must be C-contiguous; crossgpu never copies them silently. Waits release the GIL, and
every Event is awaitable from asyncio. `crossgpu.backend.CrossGpuBackend` implements the
GPUBackend interface of exo's GPU layer on top of this module.
"""

import asyncio as _asyncio

from ._native import (  # noqa: F401
    HAS_CLUSTER,
    Buffer,
    ClosedError,
    Device,
    DeviceLostError,
    DeviceTimeoutError,
    Error,
    Event,
    InvalidArgumentError,
    NotFoundError,
    OutOfMemoryError,
    OutOfRangeError,
    PermissionDeniedError,
    Registry,
    UnsupportedError,
    WrongDeviceError,
    __version__,
    copy,
    ops,
)

if HAS_CLUSTER:  # built with the network layers
    from ._native import Node, cluster_init, cluster_invite, cluster_join  # noqa: F401


def _event_await(self):
    # The wait runs in the default executor with the GIL released, so the event loop keeps going.
    loop = _asyncio.get_running_loop()
    return loop.run_in_executor(None, self.wait).__await__()


Event.__await__ = _event_await


async def wait_all(events):
    """Awaits every event of an iterable, concurrently."""
    await _asyncio.gather(*(e for e in events if e is not None))


__all__ = [
    "HAS_CLUSTER", "Buffer", "ClosedError", "Device", "DeviceLostError", "DeviceTimeoutError", "Error", "Event",
    "InvalidArgumentError", "NotFoundError", "OutOfMemoryError", "OutOfRangeError", "PermissionDeniedError",
    "Registry", "UnsupportedError", "WrongDeviceError", "copy", "ops", "wait_all",
] + (["Node", "cluster_init", "cluster_invite", "cluster_join"] if HAS_CLUSTER else [])
