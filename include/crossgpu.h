/* crossgpu C ABI, version 1.
 *
 * The stable interface for every language (Python, Java/JNI, Swift, Kotlin...). Rules:
 * - Every object is an opaque 64-bit handle, never a pointer. 0 is never a valid handle. A handle
 *   that was freed, or was never issued, gives CG_FREED_HANDLE - never a crash.
 * - Every function returns a cg_status; CG_OK is 0. After a failure, cg_last_error() returns a
 *   message for the calling thread that says what was wrong and what to do.
 * - No C++ type or exception crosses this boundary. All functions are thread-safe.
 * - Additions only within a major version: new functions and new enum values at the end.
 */
#ifndef CROSSGPU_H
#define CROSSGPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CROSSGPU_ABI_VERSION 1

#if defined(_WIN32)
#define CG_API __declspec(dllexport)
#else
#define CG_API __attribute__((visibility("default")))
#endif

/* The values of crossgpu::Errc. */
typedef enum cg_status {
  CG_OK = 0,
  CG_INVALID_ARGUMENT = 1,
  CG_OUT_OF_RANGE = 2,
  CG_OUT_OF_MEMORY = 3,
  CG_UNSUPPORTED = 4,
  CG_NOT_FOUND = 5,
  CG_WRONG_DEVICE = 6,
  CG_FREED_HANDLE = 7,
  CG_MISALIGNED = 8,
  CG_DEVICE_LOST = 9,
  CG_TIMEOUT = 10,
  CG_BACKEND_FAILURE = 11,
  CG_IO = 12,
  CG_INTERNAL = 13,
  CG_PERMISSION_DENIED = 14
} cg_status;

typedef uint64_t cg_registry;
typedef uint64_t cg_device;
typedef uint64_t cg_buffer;
typedef uint64_t cg_event;

typedef enum cg_memory_kind { CG_MEMORY_DEVICE_LOCAL = 0, CG_MEMORY_HOST_VISIBLE = 1 } cg_memory_kind;
typedef enum cg_dtype { CG_F32 = 0, CG_F16 = 1 } cg_dtype;

/* The ABI version this library implements (CROSSGPU_ABI_VERSION when built). */
CG_API uint32_t cg_abi_version(void);
/* Message of the last failing call on this thread ("" when none). Valid until the next call. */
CG_API const char* cg_last_error(void);
/* Stable name of a status ("out_of_memory"). */
CG_API const char* cg_status_name(cg_status status);

/* --- registry and devices --- */

/* Finds every local device: Vulkan GPUs (and lavapipe), then the CPU. `validation` turns on the
 * Vulkan validation layers. */
CG_API cg_status cg_registry_create(int validation, cg_registry* out);
CG_API cg_status cg_registry_free(cg_registry registry);
CG_API cg_status cg_registry_device_count(cg_registry registry, size_t* out);
/* The device stays valid until cg_device_release, even after the registry is freed. */
CG_API cg_status cg_registry_device(cg_registry registry, size_t index, cg_device* out);
CG_API cg_status cg_device_release(cg_device device);

typedef struct cg_device_info {
  char id[72];             /* stable id: Vulkan deviceUUID in hex, or cpu-<machine id> */
  char name[256];
  char vendor[32];
  char type[16];           /* discrete | integrated | virtual | cpu | other */
  char backend[16];        /* vulkan | cpu */
  char driver_version[64];
  uint64_t memory_total_bytes; /* device-local heaps */
  uint64_t memory_free_bytes;
  uint64_t max_allocation_bytes;
  uint32_t subgroup_size;
  uint32_t fp16;           /* 1 when f16 arithmetic is supported */
  uint32_t storage_16bit;  /* 1 when f16 buffers (CG_F16 ops) are supported */
  uint32_t unified_memory; /* 1 when device memory is host-visible (UMA) */
} cg_device_info;

CG_API cg_status cg_device_info_get(cg_device device, cg_device_info* out);
/* Every property as JSON. Writes at most `capacity` bytes including the NUL; `*needed` gets the
 * full size including the NUL, so a caller can retry with a larger buffer (CG_OUT_OF_RANGE). */
CG_API cg_status cg_device_properties_json(cg_device device, char* out, size_t capacity, size_t* needed);
CG_API cg_status cg_device_synchronize(cg_device device);

/* --- buffers --- */

/* `kind` is a cg_memory_kind value; passed as int so that any value a caller sends is checked. */
CG_API cg_status cg_buffer_alloc(cg_device device, uint64_t bytes, int kind, cg_buffer* out);
CG_API cg_status cg_buffer_free(cg_buffer buffer);
CG_API cg_status cg_buffer_size(cg_buffer buffer, uint64_t* out);
CG_API cg_status cg_buffer_device(cg_buffer buffer, cg_device* out); /* a new reference: release it */
/* Host address of a host-visible buffer (CG_UNSUPPORTED otherwise). Valid until the buffer is
 * freed. The caller synchronizes with queued work on the buffer. */
CG_API cg_status cg_buffer_map(cg_buffer buffer, void** out);

/* --- transfers: `event` may be NULL to wait for completion before returning --- */

CG_API cg_status cg_upload(cg_buffer dst, uint64_t offset, const void* src, uint64_t bytes, cg_event* event);
CG_API cg_status cg_download(cg_buffer src, uint64_t offset, void* dst, uint64_t bytes, cg_event* event);
/* Within one device, or between two devices of this process (then it always waits). */
CG_API cg_status cg_copy(cg_buffer src, uint64_t src_offset, cg_buffer dst, uint64_t dst_offset, uint64_t bytes,
                  cg_event* event);

/* --- events --- */

CG_API cg_status cg_event_wait(cg_event event, uint64_t timeout_ns);
/* *out = 1 when complete. */
CG_API cg_status cg_event_ready(cg_event event, int* out);
CG_API cg_status cg_event_free(cg_event event);

/* --- kernels (elements are f32 unless a dtype says otherwise; offsets are in bytes) --- */

CG_API cg_status cg_fill(cg_buffer out, uint64_t offset, uint64_t n, float value, cg_event* event);
CG_API cg_status cg_add(cg_buffer a, cg_buffer b, cg_buffer out, uint64_t n, cg_event* event);
CG_API cg_status cg_mul(cg_buffer a, cg_buffer b, cg_buffer out, uint64_t n, cg_event* event);
CG_API cg_status cg_scale(cg_buffer x, cg_buffer out, uint64_t n, float alpha, cg_event* event);
CG_API cg_status cg_silu(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event);
/* C[m x n] = A[m x k] * B[k x n]; A and B of `inputs` type (a cg_dtype value), C f32. */
CG_API cg_status cg_matmul(cg_buffer a, cg_buffer b, cg_buffer c, uint64_t m, uint64_t n, uint64_t k, int inputs,
                    cg_event* event);
/* y[rows] = A[rows x cols] * x[cols]; A of `matrix` type (a cg_dtype value), x and y f32. */
CG_API cg_status cg_matvec(cg_buffer a, cg_buffer x, cg_buffer y, uint64_t rows, uint64_t cols, int matrix,
                    cg_event* event);
CG_API cg_status cg_softmax(cg_buffer x, cg_buffer y, uint64_t rows, uint64_t cols, cg_event* event);
CG_API cg_status cg_rms_norm(cg_buffer x, cg_buffer weight, cg_buffer y, uint64_t rows, uint64_t cols, float eps,
                      cg_event* event);
CG_API cg_status cg_sum(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event);
CG_API cg_status cg_max(cg_buffer x, cg_buffer out, uint64_t n, cg_event* event);

/* ===== Additions within version 1 (new functions only; existing structs keep their layout) ===== */

/* --- Vulkan validation (for test suites: registries created with validation = 1) --- */

/* Validation-layer messages (warnings and errors) reported in this process since it started. */
CG_API cg_status cg_validation_message_count(uint64_t* out);
/* The messages reported since the last successful take, one per line ("" when none), and forgets
 * them. When they do not fit (CG_OUT_OF_RANGE, `*needed` says how much), they are kept. */
CG_API cg_status cg_validation_messages_take(char* out, size_t capacity, size_t* needed);

/* --- telemetry --- */

/* A measured value. `measured` is 1 when `value` was read from the platform (`source` names it:
 * "vulkan memory budget", "nvml", "hwmon amdgpu"...). It is 0 when the platform offers no such
 * reading; then `value` is 0 - never a made-up default - and `source` says why. */
typedef struct cg_measured_u64 {
  uint64_t value;
  uint32_t measured;
  char source[100];
} cg_measured_u64;

typedef struct cg_measured_f64 {
  double value;
  uint32_t measured;
  char source[100];
} cg_measured_f64;

typedef struct cg_telemetry {
  cg_measured_u64 memory_total_bytes; /* device-local heaps */
  cg_measured_u64 memory_used_bytes;
  cg_measured_u64 memory_free_bytes;
  cg_measured_u64 memory_budget_bytes; /* VK_EXT_memory_budget */
  cg_measured_f64 temperature_c;
  cg_measured_f64 power_w;
  cg_measured_f64 clock_mhz;
  cg_measured_f64 utilization;         /* busy fraction, 0..1 */
} cg_telemetry;

/* Reads the device's metrics now. For a remote device the memory figures come from its node;
 * its sensors are reported as not measured (the cluster does not carry sensor readings yet). */
CG_API cg_status cg_device_telemetry(cg_device device, cg_telemetry* out);

/* --- where a device is (cg_device_info keeps its v1 layout; this is its companion) --- */

typedef struct cg_device_location {
  uint32_t remote;        /* 1: a device of another node, reached through the cluster */
  char node_id[72];       /* that node's id; "" for a local device */
  char node_address[256]; /* host:port it was reached at; "" for a local device */
  char remote_id[72];     /* the id the node itself uses for the device; "" for a local device */
} cg_device_location;

CG_API cg_status cg_device_location_get(cg_device device, cg_device_location* out);

/* --- cluster (docs/SECURITY.md). In a build without the network layers (CROSSGPU_WITH_NETWORK
 * off: the arm64 and Android builds) every function here returns CG_UNSUPPORTED. ---
 *
 * `config_dir` is the folder holding this node's identity (and the cluster CA on the node that
 * created the cluster). NULL means the default folder: $XDG_CONFIG_HOME/crossgpu, else
 * ~/.config/crossgpu - the one the `crossgpu` command uses. Identities are bound to their folder
 * and machine: a copied folder is refused. */

typedef uint64_t cg_node;
typedef enum cg_role { CG_ROLE_MONITOR = 0, CG_ROLE_COMPUTE = 1, CG_ROLE_ADMIN = 2 } cg_role;

/* Creates a cluster named `name` (NULL: "crossgpu") with this folder's node as its admin, like
 * `crossgpu cluster init`. CG_INVALID_ARGUMENT when the folder already holds one, unless force. */
CG_API cg_status cg_cluster_init(const char* config_dir, const char* name, int force);
/* A one-use join token (`crossgpu cluster invite`) for a node of `role` (a cg_role value), valid
 * for `valid_for_seconds`. `addresses`: comma-separated host:port of nodes serving this folder's
 * CA (where the joiner enrolls), e.g. "192.168.1.5:7450". Needs the CA (CG_NOT_FOUND otherwise).
 * The token admits a device: keep it as private as a key. `capacity` must be at least
 * CG_INVITE_TOKEN_CAPACITY (checked before the invite is recorded). */
#define CG_INVITE_TOKEN_CAPACITY 2049
CG_API cg_status cg_cluster_invite(const char* config_dir, int role, uint64_t valid_for_seconds,
                                   const char* addresses, char* out, size_t capacity, size_t* needed);
/* Enrolls this folder with a token (`crossgpu cluster join`): contacts the enrollment address in
 * the token, checks the CA against the token's fingerprint, stores the identity. `node_name`
 * NULL: the hostname. CG_INVALID_ARGUMENT for a malformed, used or expired token, CG_IO or
 * CG_DEVICE_LOST when the enrolling node cannot be reached. */
CG_API cg_status cg_cluster_join(const char* config_dir, const char* token, const char* node_name, int force);
/* Revokes a node (`crossgpu cluster remove`) on the node serving this folder: its next call is
 * refused with CG_PERMISSION_DENIED. Needs role admin. */
CG_API cg_status cg_cluster_remove(const char* config_dir, const char* node_id);
/* JSON: {"identity": {"cluster", "node_id", "role", "holds_ca", "config_dir"}} and, when
 * `address` (host:port of a node) is given, "nodes": that node and its peers as `crossgpu status
 * --json` shows them (node_id, address, state, rtt_ms, devices, self). The report is live (an RTT
 * can gain a digit), so it may outgrow the size an earlier call gave: call again while the result
 * is CG_OUT_OF_RANGE, with `*needed` bytes, as the bindings do. */
CG_API cg_status cg_cluster_status_json(const char* config_dir, const char* address, char* out, size_t capacity,
                                        size_t* needed);

/* An in-process node: serves the local devices of `registry` (remote ones are never re-served) on
 * `listen_address` ("0.0.0.0:7450"; port 0 picks a free one) over mutual TLS with the identity in
 * `config_dir`, until cg_node_stop. When the folder holds the cluster CA it also enrolls joiners.
 * `quota_bytes`: device memory each client session may hold (0: unlimited). Lets an application
 * (a phone app, a Python or Java program) be a node of the cluster. */
CG_API cg_status cg_node_start(const char* config_dir, const char* listen_address, cg_registry registry,
                               uint64_t quota_bytes, cg_node* out);
CG_API cg_status cg_node_port(cg_node node, int* out);
CG_API cg_status cg_node_id(cg_node node, char* out, size_t capacity, size_t* needed);
/* Stops accepting calls, lets running ones finish (up to 2 s), frees every client session. */
CG_API cg_status cg_node_stop(cg_node node);

/* Connects to the node at `address` (host:port) with the identity in `config_dir` and adds its
 * devices to `registry` as remote devices: their ids are "<node id>/<device id>" and
 * cg_device_location_get says remote. They are used like local ones (buffers, transfers,
 * kernels). `*added` (may be NULL) gets how many. CG_DEVICE_LOST when the node cannot be reached
 * or refuses the TLS handshake (another cluster), CG_PERMISSION_DENIED when it refuses this
 * identity (removed), CG_INVALID_ARGUMENT when this node's devices are already in the registry. */
CG_API cg_status cg_registry_connect(cg_registry registry, const char* config_dir, const char* address,
                                     size_t* added);

#ifdef __cplusplus
}
#endif

#endif /* CROSSGPU_H */
