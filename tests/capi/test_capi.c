/* The C ABI from plain C (C11): a real program against the shared library, on every device. */
#include <math.h>

#include "check.h"

static float frand(unsigned* state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)((*state >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

/* A measured value is read from somewhere; an unmeasured one is 0 and says why. */
static void check_measured_u64(const cg_measured_u64* m, const char* what) {
  CHECK(m->measured <= 1, "%s: measured flag %u", what, m->measured);
  CHECK(strlen(m->source) > 0, "%s: no source or reason", what);
  if (!m->measured) CHECK(m->value == 0, "%s: unmeasured but %llu", what, (unsigned long long)m->value);
}

static void check_measured_f64(const cg_measured_f64* m, const char* what) {
  CHECK(m->measured <= 1, "%s: measured flag %u", what, m->measured);
  CHECK(strlen(m->source) > 0, "%s: no source or reason", what);
  if (!m->measured) CHECK(m->value == 0, "%s: unmeasured but %g", what, m->value);
}

static void test_telemetry(cg_device device, const cg_device_info* info) {
  cg_telemetry t;
  OK(cg_device_telemetry(device, &t));
  check_measured_u64(&t.memory_total_bytes, "memory total");
  check_measured_u64(&t.memory_used_bytes, "memory used");
  check_measured_u64(&t.memory_free_bytes, "memory free");
  check_measured_u64(&t.memory_budget_bytes, "memory budget");
  check_measured_f64(&t.temperature_c, "temperature");
  check_measured_f64(&t.power_w, "power");
  check_measured_f64(&t.clock_mhz, "clock");
  check_measured_f64(&t.utilization, "utilization");
  /* Memory is always known (heaps); the split adds up. */
  CHECK(t.memory_total_bytes.measured && t.memory_total_bytes.value == info->memory_total_bytes,
        "telemetry total %llu, info %llu", (unsigned long long)t.memory_total_bytes.value,
        (unsigned long long)info->memory_total_bytes);
  CHECK(t.memory_used_bytes.value + t.memory_free_bytes.value == t.memory_total_bytes.value, "used + free != total");
  if (t.utilization.measured) CHECK(t.utilization.value >= 0 && t.utilization.value <= 1, "utilization %g", t.utilization.value);
  if (t.temperature_c.measured) CHECK(t.temperature_c.value > -50 && t.temperature_c.value < 150, "temperature %g", t.temperature_c.value);
  printf("  telemetry: %llu of %llu bytes free (%s); temperature %s\n", (unsigned long long)t.memory_free_bytes.value,
         (unsigned long long)t.memory_total_bytes.value, t.memory_free_bytes.source,
         t.temperature_c.measured ? "measured" : t.temperature_c.source);
  cg_device_location where;
  OK(cg_device_location_get(device, &where));
  CHECK(where.remote == 0 && where.node_id[0] == 0 && where.remote_id[0] == 0, "a local device reported as remote");
  FAILS(cg_device_telemetry(device, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_device_location_get(device, NULL), CG_INVALID_ARGUMENT);
}

static void test_device(cg_device device, unsigned seed) {
  cg_device_info info;
  OK(cg_device_info_get(device, &info));
  printf("device %s (%s, %s)\n", info.name, info.backend, info.id);
  CHECK(info.memory_total_bytes > 0, "no memory reported");
  test_telemetry(device, &info);

  const uint64_t n = 100003;
  float* a = malloc(n * sizeof(float));
  float* b = malloc(n * sizeof(float));
  float* out = malloc(n * sizeof(float));
  for (uint64_t i = 0; i < n; ++i) {
    a[i] = frand(&seed);
    b[i] = frand(&seed);
  }
  cg_buffer ba, bb, bo;
  OK(cg_buffer_alloc(device, n * 4, CG_MEMORY_DEVICE_LOCAL, &ba));
  OK(cg_buffer_alloc(device, n * 4, CG_MEMORY_DEVICE_LOCAL, &bb));
  OK(cg_buffer_alloc(device, n * 4, CG_MEMORY_DEVICE_LOCAL, &bo));
  OK(cg_upload(ba, 0, a, n * 4, NULL));
  OK(cg_upload(bb, 0, b, n * 4, NULL));
  cg_event done;
  OK(cg_add(ba, bb, bo, n, NULL));
  OK(cg_download(bo, 0, out, n * 4, &done));
  OK(cg_event_wait(done, 10000000000ull));
  int ready = 0;
  OK(cg_event_ready(done, &ready));
  CHECK(ready == 1, "event not ready after wait");
  OK(cg_event_free(done));
  for (uint64_t i = 0; i < n; ++i) {
    if (out[i] != a[i] + b[i]) {
      CHECK(0, "add[%llu] = %g, expected %g", (unsigned long long)i, out[i], a[i] + b[i]);
      break;
    }
  }
  /* matvec 64 x 100 against a C loop */
  OK(cg_matvec(ba, bb, bo, 64, 100, CG_F32, NULL));
  OK(cg_download(bo, 0, out, 64 * 4, NULL));
  for (int r = 0; r < 64; ++r) {
    double want = 0;
    for (int c = 0; c < 100; ++c) want += (double)a[r * 100 + c] * b[c];
    CHECK(fabs(out[r] - want) <= 1e-4 * (1 + fabs(want)), "matvec[%d] = %g, expected %g", r, out[r], want);
  }

  /* bad input: every misuse is a typed error with a message, never a crash */
  uint64_t size = 0;
  FAILS(cg_upload(ba, n * 4 - 2, a, 4, NULL), CG_OUT_OF_RANGE);
  FAILS(cg_upload(ba, UINT64_MAX - 1, a, 4, NULL), CG_OUT_OF_RANGE);
  FAILS(cg_upload(ba, 0, NULL, 4, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_buffer_alloc(device, 0, CG_MEMORY_DEVICE_LOCAL, &size), CG_INVALID_ARGUMENT);
  FAILS(cg_buffer_alloc(device, 1ull << 50, CG_MEMORY_DEVICE_LOCAL, &size), CG_OUT_OF_MEMORY);
  FAILS(cg_buffer_alloc(device, 16, (cg_memory_kind)7, &size), CG_INVALID_ARGUMENT);
  FAILS(cg_matmul(ba, bb, bo, 4, 4, 4, (cg_dtype)9, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_buffer_size(ba, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_add(ba, bb, bo, n + 1, NULL), CG_OUT_OF_RANGE);
  OK(cg_buffer_free(bo));
  FAILS(cg_buffer_free(bo), CG_FREED_HANDLE);         /* double free */
  FAILS(cg_buffer_size(bo, &size), CG_FREED_HANDLE);   /* use after free */
  FAILS(cg_download(bo, 0, out, 4, NULL), CG_FREED_HANDLE);
  FAILS(cg_buffer_size(0, &size), CG_FREED_HANDLE);    /* null handle */
  FAILS(cg_buffer_size(0xDEADBEEF, &size), CG_FREED_HANDLE);
  FAILS(cg_event_wait(12345, 0), CG_FREED_HANDLE);
  OK(cg_buffer_size(ba, &size));
  CHECK(size == n * 4, "size %llu", (unsigned long long)size);
  OK(cg_buffer_free(ba));
  OK(cg_buffer_free(bb));
  free(a);
  free(b);
  free(out);
}

int main(void) {
  CHECK(cg_abi_version() == CROSSGPU_ABI_VERSION, "ABI version %u", cg_abi_version());
  cg_registry registry;
  OK(cg_registry_create(1, &registry));
  size_t count = 0;
  OK(cg_registry_device_count(registry, &count));
  CHECK(count >= 1, "no devices");
  cg_device devices[16];
  for (size_t i = 0; i < count && i < 16; ++i) OK(cg_registry_device(registry, i, &devices[i]));
  FAILS(cg_registry_device(registry, count, &devices[0]), CG_OUT_OF_RANGE);
  OK(cg_registry_free(registry)); /* devices stay valid through their own handles */
  for (size_t i = 0; i < count && i < 16; ++i) test_device(devices[i], 12345u + (unsigned)i);

  if (count >= 2) { /* a buffer of one device used with another: wrong_device, and cross copies work */
    cg_buffer x, y;
    OK(cg_buffer_alloc(devices[0], 64, CG_MEMORY_DEVICE_LOCAL, &x));
    OK(cg_buffer_alloc(devices[1], 64, CG_MEMORY_DEVICE_LOCAL, &y));
    FAILS(cg_add(x, x, y, 16, NULL), CG_WRONG_DEVICE);
    float v[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, w[16] = {0};
    OK(cg_upload(x, 0, v, 64, NULL));
    OK(cg_copy(x, 0, y, 0, 64, NULL));
    OK(cg_download(y, 0, w, 64, NULL));
    CHECK(memcmp(v, w, 64) == 0, "cross-device copy differs");
    OK(cg_buffer_free(x));
    OK(cg_buffer_free(y));
  }
  char json[8192];
  size_t needed = 0;
  OK(cg_device_properties_json(devices[0], json, sizeof json, &needed));
  CHECK(strstr(json, "\"id\"") != NULL, "JSON lacks the id");
  FAILS(cg_device_properties_json(devices[0], json, 4, &needed), CG_OUT_OF_RANGE);
  CHECK(needed > 4, "needed size not reported");
  for (size_t i = 0; i < count && i < 16; ++i) OK(cg_device_release(devices[i]));
  FAILS(cg_device_release(devices[0]), CG_FREED_HANDLE);
  FAILS(cg_device_telemetry(devices[0], &(cg_telemetry){0}), CG_FREED_HANDLE);
  FAILS(cg_validation_message_count(NULL), CG_INVALID_ARGUMENT);
  printf("C ABI on %zu device(s)\n", count);
  return finish_checks("test_capi");
}
