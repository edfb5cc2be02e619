#!/usr/bin/python3
"""Cross-language check of the protocol: a Python gRPC client (Debian's python3-grpcio, stubs
generated from proto/ at build time) talks to a `crossgpu node` with a valid cluster identity,
and is refused without one.

Usage: test_python_client.py --cli PATH/crossgpu --stubs DIR
"""
import argparse
import os
import signal
import struct
import subprocess
import sys
import tempfile

import grpc

TARGET_NAME = "crossgpu-node"  # the SAN every node certificate carries (net/security.hpp)


def start_node(cli, config):
    node = subprocess.Popen(
        [cli, "node", "--config", config, "--listen", "127.0.0.1:0", "--cpu-only",
         "--no-discovery"],
        stdout=subprocess.PIPE, text=True)
    for line in node.stdout:
        if "listening on" in line:
            return node, int(line.split("(port ")[1].split(")")[0])
    raise RuntimeError("the node did not start")


def channel(port, config, with_identity):
    def read(name):
        with open(os.path.join(config, name), "rb") as f:
            return f.read()
    if with_identity:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read("ca.crt"), private_key=read("node.key"),
            certificate_chain=read("node.crt"))
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=read("ca.crt"))
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials,
                               options=[("grpc.ssl_target_name_override", TARGET_NAME)])


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def run(pb, rpc, port, config):
    stub = rpc.NodeStub(channel(port, config, with_identity=True))
    hello = stub.Hello(pb.HelloRequest(version=pb.Version(major=1, minor=0),
                                       software="python-test"))
    check(hello.session_id != 0 and hello.role == "admin", "Hello grants a session and a role")
    session = [("crossgpu-session", str(hello.session_id))]

    devices = stub.ListDevices(pb.ListDevicesRequest(), metadata=session).devices
    check(len(devices) >= 1 and devices[0].id, "ListDevices lists the node's devices")
    device = devices[0].id

    handle = stub.Allocate(pb.AllocateRequest(device_id=device, bytes=4096),
                           metadata=session).handle
    payload = os.urandom(4096)
    written = stub.Write(iter([pb.WriteChunk(handle=handle, offset=0, data=payload)]),
                         metadata=session)
    check(written.bytes_written == 4096, "Write stores 4096 bytes")
    back = b"".join(c.data for c in stub.Read(pb.ReadRequest(handle=handle, bytes=4096),
                                              metadata=session))
    check(back == payload, "Read returns the bytes written, bit-exact")

    # fill_f32: {out}, push {n, out_offset, value}
    push = struct.pack("<IIf", 1024, 0, 2.5)
    stub.Dispatch(pb.DispatchRequest(kernel="fill_f32", bindings=[pb.BufferRange(handle=handle)],
                                     push_constants=push, groups_x=4, groups_y=1, groups_z=1),
                  metadata=session)
    stub.Synchronize(pb.SynchronizeRequest(), metadata=session)
    back = b"".join(c.data for c in stub.Read(pb.ReadRequest(handle=handle, bytes=4096),
                                              metadata=session))
    check(back == struct.pack("<f", 2.5) * 1024, "Dispatch of fill_f32 runs on the node")

    try:
        stub.Read(pb.ReadRequest(handle=handle + 1000, bytes=8), metadata=session).next()
        check(False, "an unknown handle is refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.NOT_FOUND and "errc=5" in error.details(),
              "an unknown handle is refused with errc=5 (not_found)")

    try:
        stub.Hello(pb.HelloRequest(version=pb.Version(major=2)))
        check(False, "another major version is refused")
    except grpc.RpcError as error:
        check("not supported" in error.details(), "another major version is refused clearly")

    anonymous = rpc.NodeStub(channel(port, config, with_identity=False))
    try:
        anonymous.ListDevices(pb.ListDevicesRequest(), timeout=10)
        check(False, "a client without an identity is refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.UNAUTHENTICATED,
              "a client without an identity learns nothing (UNAUTHENTICATED)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--stubs", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    from crossgpu.v1 import node_pb2 as pb, node_pb2_grpc as rpc

    with tempfile.TemporaryDirectory(prefix="crossgpu-py-") as config:
        subprocess.run([args.cli, "cluster", "init", "--config", config, "--name", "py-test"],
                       check=True, stdout=subprocess.DEVNULL)
        node, port = start_node(args.cli, config)
        try:
            run(pb, rpc, port, config)
        finally:
            node.send_signal(signal.SIGTERM)
            code = node.wait(timeout=30)
        check(code == 0, "the node exits 0 on SIGTERM")


if __name__ == "__main__":
    main()
