/* A program outside crossgpu's tree, built against the installed header and library only
 * (find_package(crossgpu) and pkg-config): it lists the devices and scales a vector on the first. */
#include <crossgpu.h>
#include <stdio.h>
#include <stdlib.h>

#define OK(call)                                                                 \
  do {                                                                           \
    cg_status s_ = (call);                                                       \
    if (s_ != CG_OK) {                                                           \
      fprintf(stderr, "%s: %s: %s\n", #call, cg_status_name(s_), cg_last_error()); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

int main(void) {
  enum { N = 256 };
  cg_registry registry;
  size_t count = 0;
  OK(cg_registry_create(1, &registry));
  OK(cg_registry_device_count(registry, &count));
  if (count == 0) {
    fprintf(stderr, "no devices\n");
    return 1;
  }
  cg_device device;
  cg_device_info info;
  OK(cg_registry_device(registry, 0, &device));
  OK(cg_device_info_get(device, &info));

  float in[N], out[N];
  for (int i = 0; i < N; ++i) in[i] = (float)i;
  cg_buffer x, y;
  cg_event event;
  OK(cg_buffer_alloc(device, sizeof in, CG_MEMORY_DEVICE_LOCAL, &x));
  OK(cg_buffer_alloc(device, sizeof out, CG_MEMORY_DEVICE_LOCAL, &y));
  OK(cg_upload(x, 0, in, sizeof in, &event));
  OK(cg_event_wait(event, UINT64_MAX));
  OK(cg_event_free(event));
  OK(cg_scale(x, y, N, 3.0f, &event));
  OK(cg_event_wait(event, UINT64_MAX));
  OK(cg_event_free(event));
  OK(cg_download(y, 0, out, sizeof out, &event));
  OK(cg_event_wait(event, UINT64_MAX));
  OK(cg_event_free(event));
  for (int i = 0; i < N; ++i) {
    if (out[i] != 3.0f * (float)i) {
      fprintf(stderr, "out[%d] = %g, expected %g\n", i, out[i], 3.0f * (float)i);
      return 1;
    }
  }
  uint64_t messages = 0;
  OK(cg_validation_message_count(&messages));
  OK(cg_buffer_free(x));
  OK(cg_buffer_free(y));
  OK(cg_device_release(device));
  OK(cg_registry_free(registry));
  if (messages != 0) {
    fprintf(stderr, "%llu Vulkan validation messages\n", (unsigned long long)messages);
    return 1;
  }
  printf("abi %u, %zu device(s), scaled %d floats on %s\n", cg_abi_version(), count, N, info.name);
  return 0;
}
