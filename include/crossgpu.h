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

#ifdef __cplusplus
}
#endif

#endif /* CROSSGPU_H */
