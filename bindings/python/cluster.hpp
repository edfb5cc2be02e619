// The cluster part of the Python module (cluster.cpp), present with the network layers only.
#pragma once

#include <pybind11/pybind11.h>

#include "device/device.hpp"

namespace crossgpu::python {

// A device of another node, reached through the cluster.
bool is_remote(const Device& device);
// cluster_init/invite/join, Node, Registry.connect, Device.node_id. Call after Registry and
// Device are bound.
void bind_cluster(pybind11::module_& m);

}  // namespace crossgpu::python
