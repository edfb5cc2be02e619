// The `crossgpu._native` extension: the device model, buffers with zero-copy numpy views, events,
// the ops and telemetry, for Python. The GIL is released around everything that waits or runs
// device work. crossgpu/__init__.py adds the pure-Python parts (asyncio helpers, the backend).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "device/registry.hpp"
#include "device/vulkan/vulkan_backend.hpp"
#include "kernels/ops.hpp"
#include "telemetry/collector.hpp"
#if CROSSGPU_PY_CLUSTER
#include "cluster.hpp"
#endif

namespace py = pybind11;
using namespace crossgpu;

namespace {

// A Python-owned buffer: close() (or the context manager) frees it at once; after that every
// use raises ClosedError instead of touching freed memory.
class PyBuffer {
 public:
  explicit PyBuffer(Buffer buffer) : buffer_(std::make_shared<Buffer>(std::move(buffer))) {}
  const std::shared_ptr<Buffer>& get() const {
    if (!buffer_) throw Error(Errc::freed_handle, "the buffer is closed");
    return buffer_;
  }
  void close() { buffer_.reset(); }
  bool closed() const { return !buffer_; }

 private:
  std::shared_ptr<Buffer> buffer_;
};

// Raw bytes of a numpy array that is C-contiguous; anything else is refused, never copied.
// Python ints are signed: a negative offset or size is a ValueError here, not a wrapped-around
// 64-bit number deeper down.
std::uint64_t non_negative(std::int64_t value, const char* what) {
  if (value < 0) throw Error(Errc::invalid_argument, std::string(what) + " must not be negative, got " + std::to_string(value));
  return static_cast<std::uint64_t>(value);
}

std::span<std::byte> contiguous_bytes(const py::array& array, bool writable) {
  if (!(array.flags() & py::array::c_style)) {
    throw Error(Errc::invalid_argument,
                "the array is not C-contiguous; pass numpy.ascontiguousarray(a) (crossgpu does not copy silently)");
  }
  if (writable && !array.writeable()) throw Error(Errc::invalid_argument, "the destination array is read-only");
  auto* data = static_cast<std::byte*>(const_cast<void*>(array.data()));
  return {data, static_cast<std::size_t>(array.nbytes())};
}

// When the caller states the element type, an array of another type is refused (a float64
// array where float32 was meant is a bug to report, not bytes to reinterpret).
void require_dtype(const py::array& array, const py::object& expected) {
  if (expected.is_none()) return;
  const py::dtype want = py::dtype::from_args(expected);
  if (!array.dtype().equal(want)) {
    throw Error(Errc::invalid_argument, "expected an array of dtype " + std::string(py::str(py::handle(want))) +
                                            ", got " + std::string(py::str(py::handle(array.dtype()))) +
                                            " (crossgpu does not convert silently)");
  }
}

Event finish(Event event, bool wait) {
  if (wait) {
    py::gil_scoped_release release;
    event.wait();
  }
  return event;
}

ops::DType dtype_of(const std::string& name) {
  if (name == "float32") return ops::DType::f32;
  if (name == "float16") return ops::DType::f16;
  throw Error(Errc::invalid_argument, "dtype must be 'float32' or 'float16', got '" + name + "'");
}

py::dict device_info(Device& device) {
  const std::string text = nlohmann::json(device.refreshed_properties()).dump();
  return py::module_::import("json").attr("loads")(text);
}

template <typename T>
py::object measured(const telemetry::Measured<T>& m) {
  return m.value ? py::cast(*m.value) : py::none();
}

bool remote(const Device& device) {
#if CROSSGPU_PY_CLUSTER
  return python::is_remote(device);
#else
  (void)device;
  return false;  // without the network layers no device is remote
#endif
}

py::dict metrics_of(Device& device) {
  static const telemetry::Collector collector;
  telemetry::DeviceMetrics m = collector.collect(device);
  if (remote(device)) {
    // The collector reads this machine's sensors; for another node's device they are not known.
    m.temperature_c = m.power_w = m.clock_mhz = m.busy_fraction =
        telemetry::Measured<double>::unavailable("remote device: its node's sensors are not carried by the cluster protocol yet");
  }
  py::dict d;
  d["memory_total_bytes"] = measured(m.memory_total_bytes);
  d["memory_free_bytes"] = measured(m.memory_free_bytes);
  d["memory_used_bytes"] = measured(m.memory_used_bytes);
  d["memory_budget_bytes"] = measured(m.memory_budget_bytes);
  d["temperature_c"] = measured(m.temperature_c);
  d["power_w"] = measured(m.power_w);
  d["clock_mhz"] = measured(m.clock_mhz);
  d["busy_fraction"] = measured(m.busy_fraction);
  py::dict sources;
  sources["temperature_c"] = m.temperature_c.source;
  sources["power_w"] = m.power_w.source;
  sources["clock_mhz"] = m.clock_mhz.source;
  sources["busy_fraction"] = m.busy_fraction.source;
  sources["memory_free_bytes"] = m.memory_free_bytes.source;
  d["sources"] = sources;
  return d;
}

// crossgpu.Error (a RuntimeError) and one subclass per kind of failure that also derives from
// the matching built-in, so both `except crossgpu.OutOfMemoryError` and `except MemoryError` work.
PyObject* make_error(py::module_& m, const char* name, PyObject* base, PyObject* builtin) {
  const std::string qualified = std::string("crossgpu.") + name;
  py::tuple bases = builtin ? py::make_tuple(py::handle(base), py::handle(builtin)) : py::make_tuple(py::handle(base));
  PyObject* type = PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module keeps a reference for its lifetime
  return type;
}

void register_errors(py::module_& m) {
  // Never freed: the translator may run until interpreter shutdown.
  static PyObject* base = make_error(m, "Error", PyExc_RuntimeError, nullptr);
  static PyObject* invalid = make_error(m, "InvalidArgumentError", base, PyExc_ValueError);
  static PyObject* range = make_error(m, "OutOfRangeError", base, PyExc_IndexError);
  static PyObject* memory = make_error(m, "OutOfMemoryError", base, PyExc_MemoryError);
  static PyObject* closed = make_error(m, "ClosedError", base, PyExc_ValueError);
  static PyObject* wrong = make_error(m, "WrongDeviceError", base, PyExc_ValueError);
  static PyObject* unsupported = make_error(m, "UnsupportedError", base, PyExc_NotImplementedError);
  static PyObject* timeout = make_error(m, "DeviceTimeoutError", base, nullptr);  // TimeoutError is an OSError: incompatible layout
  static PyObject* denied = make_error(m, "PermissionDeniedError", base, nullptr);  // PermissionError: an OSError too
  static PyObject* missing = make_error(m, "NotFoundError", base, PyExc_LookupError);
  static PyObject* lost = make_error(m, "DeviceLostError", base, nullptr);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyObject* type = base;
      switch (e.code()) {
        case Errc::invalid_argument: case Errc::misaligned: type = invalid; break;
        case Errc::out_of_range: type = range; break;
        case Errc::out_of_memory: type = memory; break;
        case Errc::freed_handle: type = closed; break;
        case Errc::wrong_device: type = wrong; break;
        case Errc::unsupported: type = unsupported; break;
        case Errc::timeout: type = timeout; break;
        case Errc::permission_denied: type = denied; break;
        case Errc::not_found: type = missing; break;
        case Errc::device_lost: type = lost; break;
        default: break;
      }
      py::object error = py::reinterpret_borrow<py::object>(type)(e.what());
      error.attr("code") = std::string(errc_name(e.code()));
      PyErr_SetObject(type, error.ptr());
    }
  });
}

void bind_device(py::module_& m) {
  py::class_<Registry, std::shared_ptr<Registry>>(m, "Registry")
      .def(py::init([](bool validation, bool cpu) {
             RegistryOptions o;
             o.validation = validation;
             o.cpu = cpu;
             return std::make_shared<Registry>(o);
           }),
           py::arg("validation") = false, py::arg("cpu") = true)
      .def("devices", [](const Registry& r) { return r.devices(); })
      .def("find", &Registry::find, py::arg("id"))
      .def_property_readonly("warnings", &Registry::warnings);

  py::class_<Device, std::shared_ptr<Device>>(m, "Device")
      .def_property_readonly("id", [](const Device& d) { return d.id(); })
      .def_property_readonly("name", [](const Device& d) { return d.properties().name; })
      .def_property_readonly("vendor", [](const Device& d) { return std::string(to_string(d.properties().vendor)); })
      .def_property_readonly("type", [](const Device& d) { return std::string(to_string(d.properties().type)); })
      .def_property_readonly("backend", [](const Device& d) { return std::string(to_string(d.properties().backend)); })
      .def_property_readonly("remote", &remote, "True for a device of another node, reached through the cluster")
      .def("properties", &device_info)
      .def("metrics", &metrics_of)
      .def("allocate", [](Device& d, std::int64_t bytes, bool host_visible) {
             return PyBuffer(d.allocate(non_negative(bytes, "nbytes"),
                                        host_visible ? MemoryKind::host_visible : MemoryKind::device_local));
           }, py::arg("nbytes"), py::arg("host_visible") = false)
      .def("synchronize", &Device::synchronize, py::call_guard<py::gil_scoped_release>())
      .def("__repr__", [](const Device& d) { return "<crossgpu.Device " + d.properties().name + " " + d.id() + ">"; });

  py::class_<Event>(m, "Event")
      .def("wait", [](const Event& e, double timeout_s) {
             e.wait(std::chrono::nanoseconds(static_cast<std::int64_t>(timeout_s * 1e9)));
           }, py::arg("timeout") = 60.0, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("ready", &Event::ready);
}

void bind_buffer(py::module_& m) {
  py::class_<PyBuffer>(m, "Buffer")
      .def_property_readonly("nbytes", [](const PyBuffer& b) { return b.get()->size(); })
      .def_property_readonly("closed", &PyBuffer::closed)
      .def_property_readonly("device", [](const PyBuffer& b) { return b.get()->device().shared_from_this(); })
      .def("close", &PyBuffer::close)
      .def("__enter__", [](PyBuffer& b) -> PyBuffer& { return b; }, py::return_value_policy::reference)
      .def("__exit__", [](PyBuffer& b, py::args) { b.close(); })
      .def("upload", [](const PyBuffer& b, const py::array& array, std::int64_t offset, bool wait,
                        const py::object& dtype) {
             require_dtype(array, dtype);
             const auto buffer = b.get();
             const std::span<std::byte> bytes = contiguous_bytes(array, false);
             Event e;
             {
               py::gil_scoped_release release;
               e = buffer->device().stream().upload(*buffer, non_negative(offset, "offset"), bytes);
             }
             return finish(e, wait);
           }, py::arg("array"), py::arg("offset") = 0, py::arg("wait") = true, py::arg("dtype") = py::none(),
           "Copies a C-contiguous array into the buffer. With wait=False, keep the array alive and unchanged until the event completes.")
      .def("download", [](const PyBuffer& b, py::array& out, std::int64_t offset, bool wait,
                          const py::object& dtype) {
             require_dtype(out, dtype);
             const auto buffer = b.get();
             const std::span<std::byte> bytes = contiguous_bytes(out, true);
             Event e;
             {
               py::gil_scoped_release release;
               e = buffer->device().stream().download(*buffer, non_negative(offset, "offset"), bytes);
             }
             return finish(e, wait);
           }, py::arg("out"), py::arg("offset") = 0, py::arg("wait") = true, py::arg("dtype") = py::none())
      .def("numpy", [](py::object self, const py::object& dtype_like) {
             const py::dtype dtype = py::dtype::from_args(dtype_like);
             const PyBuffer& b = self.cast<const PyBuffer&>();
             const std::span<std::byte> view = b.get()->mapped();
             const auto itemsize = static_cast<std::size_t>(dtype.itemsize());
             if (view.size() % itemsize != 0) {
               throw Error(Errc::invalid_argument, "buffer size is not a multiple of the dtype's size");
             }
             // The array's base is the Buffer object, so the memory outlives no Python reference.
             return py::array(dtype, {view.size() / itemsize}, {itemsize}, view.data(), self);
           }, py::arg("dtype") = py::str("float32"),
           "A zero-copy view of a host-visible buffer (UMA devices, lavapipe, host_visible=True).");
}

void bind_ops(py::module_& m) {
  auto ops = m.def_submodule("ops", "kernels on device buffers (f32 unless a dtype says otherwise)");
  using G = py::call_guard<py::gil_scoped_release>;
  auto s = [](const PyBuffer& b) -> Stream& { return b.get()->device().stream(); };
  auto ref = [](const PyBuffer& b) { return ops::TensorRef(*b.get()); };
  ops.def("fill", [=](const PyBuffer& o, std::uint64_t n, float v) { return ops::fill(s(o), ref(o), n, v); }, G());
  ops.def("add", [=](const PyBuffer& a, const PyBuffer& b, const PyBuffer& o, std::uint64_t n) {
    return ops::add(s(o), ref(a), ref(b), ref(o), n); }, G());
  ops.def("mul", [=](const PyBuffer& a, const PyBuffer& b, const PyBuffer& o, std::uint64_t n) {
    return ops::mul(s(o), ref(a), ref(b), ref(o), n); }, G());
  ops.def("scale", [=](const PyBuffer& x, const PyBuffer& o, std::uint64_t n, float alpha) {
    return ops::scale(s(o), ref(x), ref(o), n, alpha); }, G());
  ops.def("silu", [=](const PyBuffer& x, const PyBuffer& o, std::uint64_t n) { return ops::silu(s(o), ref(x), ref(o), n); }, G());
  ops.def("matmul", [=](const PyBuffer& a, const PyBuffer& b, const PyBuffer& c, std::uint64_t m_, std::uint64_t n,
                        std::uint64_t k, const std::string& dtype) {
    return ops::matmul(s(c), ref(a), ref(b), ref(c), {.m = m_, .n = n, .k = k}, dtype_of(dtype)); },
    py::arg("a"), py::arg("b"), py::arg("c"), py::arg("m"), py::arg("n"), py::arg("k"), py::arg("dtype") = "float32", G());
  ops.def("matvec", [=](const PyBuffer& a, const PyBuffer& x, const PyBuffer& y, std::uint64_t rows, std::uint64_t cols,
                        const std::string& dtype) {
    return ops::matvec(s(y), ref(a), ref(x), ref(y), rows, cols, dtype_of(dtype)); },
    py::arg("a"), py::arg("x"), py::arg("y"), py::arg("rows"), py::arg("cols"), py::arg("dtype") = "float32", G());
  ops.def("softmax", [=](const PyBuffer& x, const PyBuffer& y, std::uint64_t rows, std::uint64_t cols) {
    return ops::softmax(s(y), ref(x), ref(y), rows, cols); }, G());
  ops.def("rms_norm", [=](const PyBuffer& x, const PyBuffer& w, const PyBuffer& y, std::uint64_t rows, std::uint64_t cols,
                          float eps) { return ops::rms_norm(s(y), ref(x), ref(w), ref(y), rows, cols, eps); },
          py::arg("x"), py::arg("weight"), py::arg("y"), py::arg("rows"), py::arg("cols"), py::arg("eps") = 1e-5f, G());
  ops.def("sum", [=](const PyBuffer& x, const PyBuffer& o, std::uint64_t n) { return ops::sum(s(o), ref(x), ref(o), n); }, G());
  ops.def("max", [=](const PyBuffer& x, const PyBuffer& o, std::uint64_t n) { return ops::max(s(o), ref(x), ref(o), n); }, G());
  m.def("copy", [](const PyBuffer& src, const PyBuffer& dst, std::uint64_t nbytes, std::uint64_t src_offset,
                   std::uint64_t dst_offset) {
    copy_between_devices(*src.get(), src_offset, *dst.get(), dst_offset, nbytes); },
    py::arg("src"), py::arg("dst"), py::arg("nbytes"), py::arg("src_offset") = 0, py::arg("dst_offset") = 0,
    py::call_guard<py::gil_scoped_release>(), "Copies between buffers of the same or different devices; waits.");
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "crossgpu native module";
  register_errors(m);
  bind_device(m);
  bind_buffer(m);
  bind_ops(m);
#if CROSSGPU_PY_CLUSTER
  python::bind_cluster(m);
#else
  m.attr("HAS_CLUSTER") = false;
#endif
  m.attr("__version__") = "0.1.0";
  m.def("_take_validation_messages", &vulkan::take_validation_messages,
        "Vulkan validation-layer messages since the last call (tests fail on any).");
}
