"""The GPUBackend interface of exo's GPU layer (the seed's src/exo/gpu/backend.py), implemented
on crossgpu, so exo's Python can adopt it: async methods, string device ids, opaque handles,
bytes in and out, and the memory/temperature/power/clock queries. Values a device cannot
measure are None, never made up."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional

import numpy as np

from . import Registry, _native


@dataclass(frozen=True)
class MemoryHandle:
    handle_id: str
    device_id: str
    size_bytes: int
    allocated_at: datetime


@dataclass(frozen=True)
class GPUDevice:
    device_id: str
    name: str
    vendor: str
    backend: str
    memory_bytes: int
    memory_available: int
    driver_version: str
    device_type: str


class CrossGpuBackend:
    def __init__(self, validation: bool = False):
        self._validation = validation
        self._registry: Optional[Registry] = None
        self._devices: Dict[str, _native.Device] = {}
        self._buffers: Dict[str, _native.Buffer] = {}

    async def initialize(self) -> None:
        self._registry = await asyncio.to_thread(Registry, self._validation)
        self._devices = {d.id: d for d in self._registry.devices()}
        if not self._devices:
            raise RuntimeError("crossgpu found no device: " + "; ".join(self._registry.warnings))

    async def shutdown(self) -> None:
        for buffer in self._buffers.values():
            buffer.close()
        self._buffers.clear()
        self._devices.clear()
        self._registry = None

    def _device(self, device_id: str) -> _native.Device:
        try:
            return self._devices[device_id]
        except KeyError:
            raise ValueError(f"unknown device '{device_id}'; devices: {', '.join(self._devices)}") from None

    def _buffer(self, handle: MemoryHandle) -> _native.Buffer:
        try:
            return self._buffers[handle.handle_id]
        except KeyError:
            raise ValueError(f"memory handle {handle.handle_id} is not live (freed or foreign)") from None

    def list_devices(self) -> List[GPUDevice]:
        return [self._describe(d) for d in self._devices.values()]

    def get_device(self, device_id: str) -> Optional[GPUDevice]:
        device = self._devices.get(device_id)
        return self._describe(device) if device else None

    @staticmethod
    def _describe(device: _native.Device) -> GPUDevice:
        props = device.properties()
        local = [h for h in props["heaps"] if h["device_local"]]
        return GPUDevice(device_id=device.id, name=device.name, vendor=device.vendor, backend=device.backend,
                         memory_bytes=sum(h["total_bytes"] for h in local),
                         memory_available=sum(h["free_bytes"] for h in local),
                         driver_version=props["driver_version"], device_type=device.type)

    async def allocate(self, device_id: str, size_bytes: int) -> MemoryHandle:
        buffer = await asyncio.to_thread(self._device(device_id).allocate, size_bytes)
        handle = MemoryHandle(str(uuid.uuid4()), device_id, size_bytes, datetime.now(timezone.utc))
        self._buffers[handle.handle_id] = buffer
        return handle

    async def deallocate(self, handle: MemoryHandle) -> None:
        self._buffer(handle).close()
        del self._buffers[handle.handle_id]

    async def copy_to_device(self, src: bytes, dst_handle: MemoryHandle, offset_bytes: int = 0) -> None:
        data = np.frombuffer(src, dtype=np.uint8)
        await self._buffer(dst_handle).upload(data, offset_bytes, wait=False)

    async def copy_from_device(self, src_handle: MemoryHandle, offset_bytes: int, size_bytes: int) -> bytes:
        out = np.empty(size_bytes, dtype=np.uint8)
        await self._buffer(src_handle).download(out, offset_bytes, wait=False)
        return out.tobytes()

    async def copy_device_to_device(self, src_handle: MemoryHandle, dst_handle: MemoryHandle, size_bytes: int) -> None:
        await asyncio.to_thread(_native.copy, self._buffer(src_handle), self._buffer(dst_handle), size_bytes)

    async def synchronize(self, device_id: str) -> None:
        await asyncio.to_thread(self._device(device_id).synchronize)

    async def get_device_memory_info(self, device_id: str) -> Dict[str, int]:
        m = self._device(device_id).metrics()
        total, free = m["memory_total_bytes"], m["memory_free_bytes"]
        return {"total_bytes": total, "used_bytes": total - free, "available_bytes": free,
                "reserved_bytes": sum(b.nbytes for b in self._buffers.values() if not b.closed and b.device.id == device_id)}

    async def get_device_temperature(self, device_id: str) -> Optional[float]:
        return self._device(device_id).metrics()["temperature_c"]

    async def get_device_power_usage(self, device_id: str) -> Optional[float]:
        return self._device(device_id).metrics()["power_w"]

    async def get_device_clock_rate(self, device_id: str) -> Optional[int]:
        clock = self._device(device_id).metrics()["clock_mhz"]
        return None if clock is None else int(clock)
