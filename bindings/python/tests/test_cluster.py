"""The cluster from Python: an in-process node serving this process's devices on loopback, a
joined identity reaching them as remote devices (bit-exact), telemetry and typed errors."""

import numpy as np
import pytest

import crossgpu

pytestmark = pytest.mark.skipif(not crossgpu.HAS_CLUSTER, reason="built without the network layers")


@pytest.fixture(scope="module")
def node(registry, devices, tmp_path_factory):
    ca = str(tmp_path_factory.mktemp("ca"))
    crossgpu.cluster_init(ca, name="python-test")
    with crossgpu.Node(registry, ca, listen="127.0.0.1:0") as served:
        yield ca, served, "127.0.0.1:%d" % served.port


def joined(tmp_path, ca, address, role):
    folder = str(tmp_path / role)
    token = crossgpu.cluster_invite(ca, role=role, valid_for=600, addresses=[address])
    crossgpu.cluster_join(token, folder, name="python-" + role)
    return folder


def test_remote_devices_are_bit_exact(node, devices, tmp_path):
    ca, served, address = node
    folder = joined(tmp_path, ca, address, "compute")
    client = crossgpu.Registry(validation=True)
    remote = client.connect(address, config_dir=folder)
    assert len(remote) == len(devices)
    seed = np.random.SeedSequence().entropy
    r = np.random.default_rng(seed)
    for d in remote:
        assert d.remote and d.node_id == served.id and d.id.startswith(served.id + "/")
        a, b = r.standard_normal(30_011, dtype=np.float32), r.standard_normal(30_011, dtype=np.float32)
        with d.allocate(a.nbytes) as ba, d.allocate(b.nbytes) as bb, d.allocate(a.nbytes) as bo:
            ba.upload(a)
            bb.upload(b)
            crossgpu.ops.add(ba, bb, bo, a.size).wait()
            out = np.empty_like(a)
            bo.download(out)
            assert out.tobytes() == (a + b).tobytes(), "seed %d on %s" % (seed, d)
        m = d.metrics()
        assert m["memory_total_bytes"] > 0
        assert m["temperature_c"] is None and "remote" in m["sources"]["temperature_c"]
    with pytest.raises(crossgpu.InvalidArgumentError):
        client.connect(address, config_dir=folder)  # already connected


def test_local_devices_are_not_remote(devices):
    for d in devices:
        assert not d.remote and d.node_id is None
        m = d.metrics()
        assert m["memory_used_bytes"] + m["memory_free_bytes"] == m["memory_total_bytes"]


def test_bad_cluster_use_raises_typed_errors(node, tmp_path):
    ca, served, address = node
    empty = str(tmp_path / "empty")
    with pytest.raises(crossgpu.NotFoundError):
        crossgpu.cluster_invite(empty, addresses=[address])
    with pytest.raises(crossgpu.InvalidArgumentError):
        crossgpu.cluster_invite(ca, role="emperor", addresses=[address])
    with pytest.raises(crossgpu.InvalidArgumentError):
        crossgpu.cluster_join("crossgpu-invite-v1:forged", empty)
    with pytest.raises(crossgpu.NotFoundError):
        crossgpu.Registry().connect(address, config_dir=empty)
    with pytest.raises(crossgpu.DeviceLostError):
        crossgpu.Registry().connect("127.0.0.1:1", config_dir=ca)
    monitor = crossgpu.Registry(validation=True).connect(address, config_dir=joined(tmp_path, ca, address, "monitor"))
    with pytest.raises(crossgpu.PermissionDeniedError):
        monitor[0].allocate(64)
    spare = crossgpu.Node(crossgpu.Registry(), ca, listen="127.0.0.1:0")
    spare.close()
    with pytest.raises(crossgpu.ClosedError):
        spare.port
