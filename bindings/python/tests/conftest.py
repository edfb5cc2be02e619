import os

import pytest

import crossgpu


@pytest.fixture(scope="session")
def registry():
    return crossgpu.Registry(validation=os.environ.get("CROSSGPU_VULKAN_VALIDATION") == "1")


@pytest.fixture(scope="session")
def devices(registry):
    found = registry.devices()
    assert any(d.backend == "vulkan" for d in found), "no Vulkan device (lavapipe expected): " + "; ".join(registry.warnings)
    return found


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        names = [d.name for d in crossgpu.Registry().devices()]
        metafunc.parametrize("device_index", range(len(names)), ids=[n.replace(" ", "_") for n in names])


@pytest.fixture
def device(devices, device_index):
    return devices[device_index]


@pytest.fixture(autouse=True)
def no_validation_messages():
    crossgpu._native._take_validation_messages()
    yield
    messages = crossgpu._native._take_validation_messages()
    assert not messages, "Vulkan validation: " + "\n".join(messages)
