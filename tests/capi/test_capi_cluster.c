/* The cluster part of the C ABI from plain C: a cluster in temporary folders, an in-process node
 * serving this process's devices on loopback, a second identity joined with an invite, its
 * registry reaching the node's devices as remote devices with bit-exact results, status JSON,
 * telemetry, roles, removal, and every misuse as a typed error. Without the network layers
 * (CG_TEST_NETWORK 0) it checks that every cluster call says CG_UNSUPPORTED. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "json_check.h"

#ifndef CG_TEST_NETWORK
#define CG_TEST_NETWORK 1
#endif

enum { MAX_DEVICES = 16 };

static unsigned next_random(unsigned* state) {
  *state = *state * 1664525u + 1013904223u;
  return *state;
}

static float frand(unsigned* state) { return (float)((next_random(state) >> 8) & 0xFFFF) / 65536.0f - 0.5f; }

static int remove_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static void remove_tree(const char* path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void make_temp_dir(char* path, const char* tag) {
  snprintf(path, 256, "/tmp/crossgpu-capi-%s-XXXXXX", tag);
  CHECK(mkdtemp(path) != NULL, "mkdtemp %s failed", path);
}

#if CG_TEST_NETWORK

/* The value of "key":"..." in a JSON text (first occurrence), for ids the test needs. */
static void json_field(const char* json, const char* key, char* out, size_t capacity) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char* at = strstr(json, pattern);
  out[0] = '\0';
  if (at == NULL) return;
  at += strlen(pattern);
  size_t n = 0;
  while (at[n] != '"' && n + 1 < capacity) ++n;
  memcpy(out, at, n);
  out[n] = '\0';
}

static void identity_node_id(const char* dir, char* out, size_t capacity) {
  char json[4096];
  OK(cg_cluster_status_json(dir, NULL, json, sizeof json, NULL));
  CHECK(json_parses(json), "identity JSON does not parse: %s", json);
  json_field(json, "node_id", out, capacity);
  CHECK(strlen(out) == 32, "node id '%s'", out);
}

/* The local device a remote one stands for: same id on the node, which is this process. */
static cg_device local_twin(cg_device* locals, size_t count, const char* remote_id) {
  for (size_t i = 0; i < count; ++i) {
    cg_device_info info;
    OK(cg_device_info_get(locals[i], &info));
    if (strcmp(info.id, remote_id) == 0) return locals[i];
  }
  return 0;
}

/* add and matvec on a remote device: add is exact in f32; matvec is the node's own kernel on the
 * same hardware, so it equals the local device's result bit for bit. */
static void test_remote_work(cg_device remote, cg_device local, unsigned seed) {
  const uint64_t n = 50021, rows = 64, cols = 300;
  float* a = malloc(n * 4);
  float* b = malloc(n * 4);
  float* out = malloc(n * 4);
  float* expect = malloc(rows * 4);
  for (uint64_t i = 0; i < n; ++i) {
    a[i] = frand(&seed);
    b[i] = frand(&seed);
  }
  cg_buffer ra, rb, ro, la, lb, lo;
  OK(cg_buffer_alloc(remote, n * 4, CG_MEMORY_DEVICE_LOCAL, &ra));
  OK(cg_buffer_alloc(remote, n * 4, CG_MEMORY_DEVICE_LOCAL, &rb));
  OK(cg_buffer_alloc(remote, n * 4, CG_MEMORY_DEVICE_LOCAL, &ro));
  OK(cg_upload(ra, 0, a, n * 4, NULL));
  OK(cg_upload(rb, 0, b, n * 4, NULL));
  OK(cg_add(ra, rb, ro, n, NULL));
  cg_event done;
  OK(cg_download(ro, 0, out, n * 4, &done));
  OK(cg_event_wait(done, 60000000000ull));
  OK(cg_event_free(done));
  for (uint64_t i = 0; i < n; ++i) {
    const float want = a[i] + b[i];
    if (memcmp(&out[i], &want, 4) != 0) {
      CHECK(0, "remote add[%llu] = %a, expected %a (seed %u)", (unsigned long long)i, out[i], want, seed);
      break;
    }
  }
  OK(cg_matvec(ra, rb, ro, rows, cols, CG_F32, NULL));
  OK(cg_download(ro, 0, out, rows * 4, NULL));
  OK(cg_buffer_alloc(local, n * 4, CG_MEMORY_DEVICE_LOCAL, &la));
  OK(cg_buffer_alloc(local, n * 4, CG_MEMORY_DEVICE_LOCAL, &lb));
  OK(cg_buffer_alloc(local, rows * 4, CG_MEMORY_DEVICE_LOCAL, &lo));
  OK(cg_upload(la, 0, a, n * 4, NULL));
  OK(cg_upload(lb, 0, b, n * 4, NULL));
  OK(cg_matvec(la, lb, lo, rows, cols, CG_F32, NULL));
  OK(cg_download(lo, 0, expect, rows * 4, NULL));
  CHECK(memcmp(out, expect, rows * 4) == 0, "remote matvec differs from the local device's (seed %u)", seed);
  /* copies between the remote and the local device, both ways */
  OK(cg_copy(ra, 0, lo, 0, rows * 4, NULL));
  OK(cg_download(lo, 0, expect, rows * 4, NULL));
  CHECK(memcmp(a, expect, rows * 4) == 0, "remote -> local copy differs");
  /* misuse on a remote device is refused the same way as on a local one */
  FAILS(cg_upload(ra, n * 4 - 2, a, 4, NULL), CG_OUT_OF_RANGE);
  FAILS(cg_add(ra, rb, lo, 16, NULL), CG_WRONG_DEVICE);
  FAILS(cg_buffer_alloc(remote, 0, CG_MEMORY_DEVICE_LOCAL, &la), CG_INVALID_ARGUMENT);
  cg_buffer all[] = {ra, rb, ro, la, lb, lo};
  for (int i = 0; i < 6; ++i) OK(cg_buffer_free(all[i]));
  FAILS(cg_download(ro, 0, out, 4, NULL), CG_FREED_HANDLE);
  free(a);
  free(b);
  free(out);
  free(expect);
}

static void test_remote_telemetry(cg_device remote) {
  cg_telemetry t;
  OK(cg_device_telemetry(remote, &t));
  CHECK(t.memory_total_bytes.measured && t.memory_total_bytes.value > 0, "remote memory total not measured");
  CHECK(strstr(t.memory_free_bytes.source, "node ") == t.memory_free_bytes.source, "source '%s'",
        t.memory_free_bytes.source);
  const cg_measured_f64* sensors[] = {&t.temperature_c, &t.power_w, &t.clock_mhz, &t.utilization};
  for (int i = 0; i < 4; ++i) {
    CHECK(!sensors[i]->measured && sensors[i]->value == 0 && strstr(sensors[i]->source, "remote") != NULL,
          "remote sensor %d: measured %u, %g, '%s'", i, sensors[i]->measured, sensors[i]->value, sensors[i]->source);
  }
}

/* An invite of `role` for the node at `address`. */
static void invite(const char* ca_dir, int role, const char* address, char* token) {
  OK(cg_cluster_invite(ca_dir, role, 600, address, token, CG_INVITE_TOKEN_CAPACITY, NULL));
  CHECK(strncmp(token, "crossgpu-invite-v1:", 19) == 0, "token '%s'", token);
}

static void test_bad_cluster_input(const char* ca_dir, const char* empty_dir, const char* address, cg_registry registry) {
  char token[CG_INVITE_TOKEN_CAPACITY];
  size_t needed = 0;
  cg_node node;
  FAILS(cg_cluster_init(ca_dir, "again", 0), CG_INVALID_ARGUMENT);      /* already a cluster */
  FAILS(cg_cluster_invite(empty_dir, CG_ROLE_COMPUTE, 60, address, token, sizeof token, NULL), CG_NOT_FOUND);
  FAILS(cg_cluster_invite(ca_dir, 7, 60, address, token, sizeof token, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_invite(ca_dir, -1, 60, address, token, sizeof token, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_invite(ca_dir, CG_ROLE_COMPUTE, 0, address, token, sizeof token, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_invite(ca_dir, CG_ROLE_COMPUTE, 60, NULL, token, sizeof token, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_invite(ca_dir, CG_ROLE_COMPUTE, 60, "a:1,,b:2", token, sizeof token, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_invite(ca_dir, CG_ROLE_COMPUTE, 60, address, token, 16, &needed), CG_OUT_OF_RANGE);
  CHECK(needed == CG_INVITE_TOKEN_CAPACITY, "needed %zu", needed);
  FAILS(cg_cluster_invite(ca_dir, CG_ROLE_COMPUTE, 60, address, NULL, 0, NULL), CG_OUT_OF_RANGE);
  FAILS(cg_cluster_join(empty_dir, NULL, NULL, 0), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_join(empty_dir, "crossgpu-invite-v1:not-a-token", NULL, 0), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_join(empty_dir, "hello", NULL, 0), CG_INVALID_ARGUMENT);
  FAILS(cg_cluster_status_json(empty_dir, NULL, token, sizeof token, NULL), CG_NOT_FOUND); /* no identity */
  FAILS(cg_cluster_status_json(ca_dir, NULL, token, 4, &needed), CG_OUT_OF_RANGE);
  CHECK(needed > 4, "needed %zu", needed);
  FAILS(cg_cluster_remove(ca_dir, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_node_start(ca_dir, "127.0.0.1:0", 0, 0, &node), CG_FREED_HANDLE);
  FAILS(cg_node_start(ca_dir, NULL, registry, 0, &node), CG_INVALID_ARGUMENT);
  FAILS(cg_node_start(ca_dir, "127.0.0.1:0", registry, 0, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_node_start(empty_dir, "127.0.0.1:0", registry, 0, &node), CG_NOT_FOUND);
  FAILS(cg_node_start(ca_dir, "256.1.1.1:99999", registry, 0, &node), CG_IO);
  int port = 0;
  FAILS(cg_node_port(0, &port), CG_FREED_HANDLE);
  FAILS(cg_node_stop(0), CG_FREED_HANDLE);
  FAILS(cg_registry_connect(registry, empty_dir, address, NULL), CG_NOT_FOUND);   /* no identity */
  FAILS(cg_registry_connect(registry, ca_dir, NULL, NULL), CG_INVALID_ARGUMENT);
  FAILS(cg_registry_connect(0, ca_dir, address, NULL), CG_FREED_HANDLE);
  /* A port nobody listens on: unreachable. */
  FAILS(cg_registry_connect(registry, ca_dir, "127.0.0.1:1", NULL), CG_DEVICE_LOST);
  /* The default folder (NULL) is $XDG_CONFIG_HOME/crossgpu, empty here. */
  FAILS(cg_cluster_status_json(NULL, NULL, token, sizeof token, NULL), CG_NOT_FOUND);
  CHECK(strstr(cg_last_error(), empty_dir) != NULL, "default folder not under XDG_CONFIG_HOME: %s", cg_last_error());
}

/* A client with `role`, joined in `dir`, connects a registry of its own to the node. */
static cg_registry joined_client(const char* ca_dir, const char* dir, int role, const char* address, size_t* added) {
  char token[CG_INVITE_TOKEN_CAPACITY];
  invite(ca_dir, role, address, token);
  OK(cg_cluster_join(dir, token, "capi-client", 0));
  char again[256];
  make_temp_dir(again, "reuse");
  FAILS(cg_cluster_join(again, token, NULL, 0), CG_INVALID_ARGUMENT); /* one use */
  remove_tree(again);
  cg_registry registry = 0;
  OK(cg_registry_create(1, &registry));
  OK(cg_registry_connect(registry, dir, address, added));
  return registry;
}

static void test_status(const char* client_dir, const char* address, const char* node_id) {
  size_t needed = 0;
  FAILS(cg_cluster_status_json(client_dir, address, NULL, 0, &needed), CG_OUT_OF_RANGE);
  /* The report is live: an RTT that gains a digit between the calls makes it longer, so grow the
   * buffer to what each call says it needs (a bounded number of times) as a real caller must. */
  char* json = NULL;
  cg_status status = CG_OUT_OF_RANGE;
  for (int attempt = 0; attempt < 8 && status == CG_OUT_OF_RANGE; ++attempt) {
    free(json);
    json = malloc(needed);
    status = cg_cluster_status_json(client_dir, address, json, needed, &needed);
  }
  OK(status);
  if (status == CG_OK) {
    CHECK(json_parses(json), "status JSON does not parse: %s", json);
    CHECK(strstr(json, "\"nodes\"") && strstr(json, node_id) && strstr(json, "\"role\":\"compute\""),
          "status JSON lacks the node or the identity: %s", json);
  }
  free(json);
}

static void test_cluster(cg_registry registry, cg_device* locals, size_t local_count, const char* root) {
  char ca[256], client[256], monitor[256], empty[256], address[64], node_id[64], client_id[64];
  make_temp_dir(ca, "ca");
  make_temp_dir(client, "client");
  make_temp_dir(monitor, "monitor");
  snprintf(empty, sizeof empty, "%s/crossgpu", root);

  OK(cg_cluster_init(ca, "capi-test", 0));
  cg_node node = 0;
  int port = 0;
  OK(cg_node_start(ca, "127.0.0.1:0", registry, 0, &node));
  OK(cg_node_port(node, &port));
  CHECK(port > 0, "port %d", port);
  FAILS(cg_node_port(node, NULL), CG_INVALID_ARGUMENT);
  snprintf(address, sizeof address, "127.0.0.1:%d", port);
  OK(cg_node_id(node, node_id, sizeof node_id, NULL));
  test_bad_cluster_input(ca, empty, address, registry);

  size_t added = 0;
  cg_registry remote_registry = joined_client(ca, client, CG_ROLE_COMPUTE, address, &added);
  CHECK(added == local_count, "node serves %zu devices, %zu added", local_count, added);
  FAILS(cg_registry_connect(remote_registry, client, address, NULL), CG_INVALID_ARGUMENT); /* twice */
  size_t count = 0;
  OK(cg_registry_device_count(remote_registry, &count));
  CHECK(count == local_count + added, "registry has %zu devices", count);
  unsigned seed = (unsigned)time(NULL);
  printf("seed %u\n", seed);
  cg_device remotes[MAX_DEVICES];
  for (size_t i = 0; i < added && i < MAX_DEVICES; ++i) {
    OK(cg_registry_device(remote_registry, local_count + i, &remotes[i]));
    cg_device_info info;
    cg_device_location where;
    OK(cg_device_info_get(remotes[i], &info));
    OK(cg_device_location_get(remotes[i], &where));
    printf("remote device %s (%s) on node %s at %s\n", info.name, info.id, where.node_id, where.node_address);
    CHECK(where.remote == 1 && strcmp(where.node_id, node_id) == 0 && strcmp(where.node_address, address) == 0,
          "location: remote %u node '%s' at '%s'", where.remote, where.node_id, where.node_address);
    CHECK(strncmp(info.id, node_id, 32) == 0 && info.id[32] == '/' && strcmp(info.id + 33, where.remote_id) == 0,
          "remote id '%s'", info.id);
    const cg_device twin = local_twin(locals, local_count, where.remote_id);
    CHECK(twin != 0, "no local device %s", where.remote_id);
    if (twin) test_remote_work(remotes[i], twin, seed + (unsigned)i);
    test_remote_telemetry(remotes[i]);
  }
  test_status(client, address, node_id);

  /* A monitor may look but not allocate. */
  cg_registry monitor_registry = joined_client(ca, monitor, CG_ROLE_MONITOR, address, &added);
  cg_device watched;
  cg_buffer refused;
  OK(cg_registry_device(monitor_registry, local_count, &watched));
  FAILS(cg_buffer_alloc(watched, 64, CG_MEMORY_DEVICE_LOCAL, &refused), CG_PERMISSION_DENIED);
  OK(cg_device_release(watched));
  OK(cg_registry_free(monitor_registry));

  /* Removal: only an admin removes; the removed node's next calls are refused. */
  identity_node_id(client, client_id, sizeof client_id);
  FAILS(cg_cluster_remove(client, node_id), CG_PERMISSION_DENIED);
  FAILS(cg_cluster_remove(ca, node_id), CG_INVALID_ARGUMENT); /* itself */
  OK(cg_cluster_remove(ca, client_id));
  cg_buffer after;
  FAILS(cg_buffer_alloc(remotes[0], 64, CG_MEMORY_DEVICE_LOCAL, &after), CG_PERMISSION_DENIED);
  cg_registry again = 0;
  OK(cg_registry_create(0, &again));
  FAILS(cg_registry_connect(again, client, address, NULL), CG_PERMISSION_DENIED);
  OK(cg_registry_free(again));

  /* A stopped node: its handle is gone, its devices are lost. */
  OK(cg_node_stop(node));
  FAILS(cg_node_stop(node), CG_FREED_HANDLE);
  FAILS(cg_node_port(node, &port), CG_FREED_HANDLE);
  char text[64];
  FAILS(cg_node_id(node, text, sizeof text, NULL), CG_FREED_HANDLE);
  cg_status lost = cg_buffer_alloc(remotes[0], 64, CG_MEMORY_DEVICE_LOCAL, &after);
  CHECK(lost == CG_DEVICE_LOST || lost == CG_PERMISSION_DENIED, "after stop: %s: %s", cg_status_name(lost), cg_last_error());
  FAILS(cg_registry_connect(remote_registry, client, address, NULL), CG_DEVICE_LOST);

  for (size_t i = 0; i < added && i < MAX_DEVICES; ++i) OK(cg_device_release(remotes[i]));
  OK(cg_registry_free(remote_registry));
  remove_tree(ca);
  remove_tree(client);
  remove_tree(monitor);
}

#else

static void test_cluster(cg_registry registry, cg_device* locals, size_t local_count, const char* root) {
  (void)locals, (void)local_count;
  char token[CG_INVITE_TOKEN_CAPACITY];
  cg_node node;
  FAILS(cg_cluster_init(root, "x", 0), CG_UNSUPPORTED);
  CHECK(strstr(cg_last_error(), "CROSSGPU_WITH_NETWORK") != NULL, "message: %s", cg_last_error());
  FAILS(cg_cluster_invite(root, CG_ROLE_COMPUTE, 60, "a:1", token, sizeof token, NULL), CG_UNSUPPORTED);
  FAILS(cg_cluster_join(root, "t", NULL, 0), CG_UNSUPPORTED);
  FAILS(cg_cluster_remove(root, "n"), CG_UNSUPPORTED);
  FAILS(cg_cluster_status_json(root, NULL, token, sizeof token, NULL), CG_UNSUPPORTED);
  FAILS(cg_node_start(root, "127.0.0.1:0", registry, 0, &node), CG_UNSUPPORTED);
  FAILS(cg_node_stop(1), CG_UNSUPPORTED);
  FAILS(cg_registry_connect(registry, root, "127.0.0.1:1", NULL), CG_UNSUPPORTED);
}

#endif

int main(void) {
  /* The default config folder (config_dir NULL) must not be the user's own. */
  char root[256];
  make_temp_dir(root, "xdg");
  setenv("XDG_CONFIG_HOME", root, 1);
  cg_registry registry = 0;
  OK(cg_registry_create(1, &registry));
  size_t count = 0;
  OK(cg_registry_device_count(registry, &count));
  CHECK(count >= 1 && count <= MAX_DEVICES, "%zu devices", count);
  cg_device locals[MAX_DEVICES];
  for (size_t i = 0; i < count && i < MAX_DEVICES; ++i) OK(cg_registry_device(registry, i, &locals[i]));
  test_cluster(registry, locals, count, root);
  for (size_t i = 0; i < count && i < MAX_DEVICES; ++i) OK(cg_device_release(locals[i]));
  OK(cg_registry_free(registry));
  remove_tree(root);
  return finish_checks("test_capi_cluster");
}
