// The cluster for Python: cluster init/invite/join on a config folder, an in-process Node serving
// a registry's local devices, and Registry.connect adding a node's devices as remote devices.
// Built only with the network layers (CROSSGPU_WITH_NETWORK). Network waits release the GIL.
#include "cluster.hpp"

#include <pybind11/stl.h>

#include <chrono>
#include <optional>

#include "cluster/node_server.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"
#include "net/security.hpp"

namespace py = pybind11;
using namespace crossgpu;

namespace crossgpu::python {
namespace {

std::filesystem::path folder(const std::optional<std::string>& dir) { return net::resolve_config_dir(dir.value_or("")); }

// A node serving until close() (or the context manager's exit); then every use is ClosedError.
class PyNode {
 public:
  PyNode(const Registry& registry, const std::optional<std::string>& dir, const std::string& listen,
         std::uint64_t quota) {
    std::vector<std::shared_ptr<Device>> local;
    for (const auto& d : registry.devices()) {
      if (!is_remote(*d)) local.push_back(d);  // a node never re-serves another node's devices
    }
    if (local.empty()) throw Error(Errc::invalid_argument, "the registry has no local device to serve");
    cluster::NodeServerOptions options;
    options.config_dir = folder(dir);
    options.listen_address = listen;
    options.limits.quota_bytes = quota;
    server_ = std::make_unique<cluster::NodeServer>(std::move(local), options);
    server_->start();
  }
  cluster::NodeServer& get() const {
    if (!server_) throw Error(Errc::freed_handle, "the node is closed");
    return *server_;
  }
  void close() {
    if (!server_) return;
    py::gil_scoped_release release;
    server_->shutdown(std::chrono::seconds(2));
    server_.reset();
  }

 private:
  std::unique_ptr<cluster::NodeServer> server_;
};

std::vector<std::shared_ptr<Device>> connect(Registry& registry, const std::string& address,
                                             const std::optional<std::string>& dir) {
  std::unique_ptr<cluster::RemoteNode> node;
  {
    py::gil_scoped_release release;
    node = cluster::RemoteNode::connect(address, net::NodeIdentity::load(folder(dir)));
  }
  // All or nothing: a node already connected adds no second copy of any device.
  for (const auto& device : node->devices()) {
    for (const auto& present : registry.devices()) {
      if (present->id() == device->id()) {
        throw Error(Errc::invalid_argument, "device " + device->id() + " of node " + address + " is already in the registry");
      }
    }
  }
  for (const auto& device : node->devices()) registry.add(device);
  return node->devices();
}

std::string invite(const std::optional<std::string>& dir, const std::string& role, double valid_for_s,
                   const std::vector<std::string>& addresses) {
  if (!(valid_for_s >= 1 && valid_for_s <= 365.0 * 86400)) {
    throw Error(Errc::invalid_argument, "valid_for must be 1 s .. 1 year, got " + std::to_string(valid_for_s));
  }
  if (addresses.empty()) throw Error(Errc::invalid_argument, "give the enrollment addresses (host:port of a node with the CA)");
  const net::ClusterCa ca = net::ClusterCa::load(folder(dir));
  return ca.create_invite(net::parse_role(role), std::chrono::seconds(static_cast<std::int64_t>(valid_for_s)), addresses)
      .encode();
}

}  // namespace

bool is_remote(const Device& device) { return dynamic_cast<const cluster::RemoteDevice*>(&device) != nullptr; }

void bind_cluster(py::module_& m) {
  using Opt = std::optional<std::string>;
  m.attr("HAS_CLUSTER") = true;
  m.def("cluster_init", [](const Opt& dir, const std::string& name, bool force) {
    net::ClusterCa::create(folder(dir), name, force); },
    py::arg("config_dir") = py::none(), py::arg("name") = "crossgpu", py::arg("force") = false,
    "Creates a cluster with this folder's node as admin (`crossgpu cluster init`).");
  m.def("cluster_invite", &invite, py::arg("config_dir"), py::arg("role") = "compute", py::arg("valid_for") = 86400.0,
        py::arg("addresses") = std::vector<std::string>{}, "A one-use join token; keep it private.");
  m.def("cluster_join", [](const std::string& token, const Opt& dir, const Opt& name, bool force) {
    py::gil_scoped_release release;
    net::join_cluster(token, folder(dir), name.value_or(net::local_hostname().substr(0, 64)), force); },
    py::arg("token"), py::arg("config_dir") = py::none(), py::arg("name") = py::none(), py::arg("force") = false);

  auto registry = py::reinterpret_borrow<py::class_<Registry, std::shared_ptr<Registry>>>(m.attr("Registry"));
  registry.def("connect", &connect, py::arg("address"), py::arg("config_dir") = py::none(),
               "Adds the devices of the node at host:port as remote devices; returns them.");
  auto device = py::reinterpret_borrow<py::class_<Device, std::shared_ptr<Device>>>(m.attr("Device"));
  device.def_property_readonly("node_id", [](const Device& d) -> Opt {
    if (const auto* r = dynamic_cast<const cluster::RemoteDevice*>(&d)) return r->node().node_id();
    return std::nullopt;
  });

  py::class_<PyNode>(m, "Node")
      .def(py::init<const Registry&, const Opt&, const std::string&, std::uint64_t>(), py::arg("registry"),
           py::arg("config_dir") = py::none(), py::arg("listen") = "0.0.0.0:7450", py::arg("quota") = 0)
      .def_property_readonly("port", [](const PyNode& n) { return n.get().port(); })
      .def_property_readonly("id", [](const PyNode& n) { return n.get().node_id(); })
      .def("close", &PyNode::close)
      .def("__enter__", [](PyNode& n) -> PyNode& { return n; }, py::return_value_policy::reference)
      .def("__exit__", [](PyNode& n, py::args) { n.close(); });
}

}  // namespace crossgpu::python
