// JNI over the C ABI (include/crossgpu.h): every method converts arguments, calls one cg_*
// function and turns a failure into the Java exception Exceptions.of(status, message) builds.
// Nothing here keeps state: the C ABI's handle tables are the single source of truth and are
// thread-safe, so the Java classes are too.
#include <jni.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crossgpu.h"

namespace {

void throw_status(JNIEnv* env, cg_status status, const char* message) {
  jclass exceptions = env->FindClass("org/crossgpu/Exceptions");
  if (exceptions == nullptr) return;  // NoClassDefFoundError is pending
  jmethodID of = env->GetStaticMethodID(exceptions, "of", "(ILjava/lang/String;)Ljava/lang/RuntimeException;");
  if (of == nullptr) return;
  jstring text = env->NewStringUTF(message);
  auto error = static_cast<jthrowable>(env->CallStaticObjectMethod(exceptions, of, static_cast<jint>(status), text));
  if (error != nullptr) env->Throw(error);
}

// True when the call succeeded; else a Java exception is pending and the caller returns.
bool ok(JNIEnv* env, cg_status status) {
  if (status == CG_OK) return true;
  throw_status(env, status, cg_last_error());
  return false;
}

// Java has no unsigned types: a negative size or offset is refused here with a clear message.
bool non_negative(JNIEnv* env, jlong value, const char* what) {
  if (value >= 0) return true;
  const std::string message = std::string(what) + " must not be negative, got " + std::to_string(value);
  throw_status(env, CG_INVALID_ARGUMENT, message.c_str());
  return false;
}

// The bytes [position, position + length) of a direct ByteBuffer.
std::uint8_t* direct_bytes(JNIEnv* env, jobject buffer, jint position, jint length) {
  auto* base = static_cast<std::uint8_t*>(env->GetDirectBufferAddress(buffer));
  const jlong capacity = env->GetDirectBufferCapacity(buffer);
  if (base == nullptr || capacity < 0) {
    throw_status(env, CG_INVALID_ARGUMENT, "a direct ByteBuffer is required");
    return nullptr;
  }
  if (position < 0 || length < 0 || static_cast<jlong>(position) + length > capacity) {
    throw_status(env, CG_OUT_OF_RANGE, "position and length lie outside the ByteBuffer");
    return nullptr;
  }
  return base + position;
}

jstring text(JNIEnv* env, const char* value) { return env->NewStringUTF(value); }

// A Java String argument as a C string for the call's duration; a null String stays NULL (the
// C ABI's "default" for config folders and node names).
class Utf {
 public:
  Utf(JNIEnv* env, jstring value) : env_(env), value_(value) {
    if (value != nullptr) chars_ = env->GetStringUTFChars(value, nullptr);
  }
  ~Utf() {
    if (chars_ != nullptr) env_->ReleaseStringUTFChars(value_, chars_);
  }
  Utf(const Utf&) = delete;
  Utf& operator=(const Utf&) = delete;
  const char* get() const { return chars_; }
  // GetStringUTFChars failed (an OutOfMemoryError is pending).
  bool failed() const { return value_ != nullptr && chars_ == nullptr; }

 private:
  JNIEnv* env_;
  jstring value_;
  const char* chars_ = nullptr;
};

// A variable-size text output of the C ABI: grows the buffer to the size the call says it needs
// (the text may grow between calls, e.g. new validation messages, so it tries again).
template <typename Call>
jstring sized_text(JNIEnv* env, Call call) {
  std::vector<char> out(256);
  for (;;) {
    size_t needed = 0;
    const cg_status status = call(out.data(), out.size(), &needed);
    if (status == CG_OUT_OF_RANGE && needed > out.size()) {
      out.resize(needed);
      continue;
    }
    return ok(env, status) ? text(env, out.data()) : nullptr;
  }
}

jobjectArray strings(JNIEnv* env, std::initializer_list<const char*> values) {
  jobjectArray out = env->NewObjectArray(static_cast<jsize>(values.size()), env->FindClass("java/lang/String"), nullptr);
  jsize i = 0;
  for (const char* value : values) env->SetObjectArrayElement(out, i++, text(env, value));
  return out;
}

}  // namespace

extern "C" {

JNIEXPORT jint JNICALL Java_org_crossgpu_Native_abiVersion(JNIEnv*, jclass) {
  return static_cast<jint>(cg_abi_version());
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_registryCreate(JNIEnv* env, jclass, jboolean validation) {
  cg_registry out = 0;
  return ok(env, cg_registry_create(validation ? 1 : 0, &out)) ? static_cast<jlong>(out) : 0;
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_registryFree(JNIEnv* env, jclass, jlong registry) {
  ok(env, cg_registry_free(static_cast<cg_registry>(registry)));
}

JNIEXPORT jint JNICALL Java_org_crossgpu_Native_registryDeviceCount(JNIEnv* env, jclass, jlong registry) {
  size_t count = 0;
  return ok(env, cg_registry_device_count(static_cast<cg_registry>(registry), &count)) ? static_cast<jint>(count) : 0;
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_registryDevice(JNIEnv* env, jclass, jlong registry, jint index) {
  if (!non_negative(env, index, "device index")) return 0;
  cg_device out = 0;
  return ok(env, cg_registry_device(static_cast<cg_registry>(registry), static_cast<size_t>(index), &out))
             ? static_cast<jlong>(out)
             : 0;
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_deviceRelease(JNIEnv* env, jclass, jlong device) {
  ok(env, cg_device_release(static_cast<cg_device>(device)));
}

JNIEXPORT jobjectArray JNICALL Java_org_crossgpu_Native_deviceStrings(JNIEnv* env, jclass, jlong device) {
  cg_device_info info;
  if (!ok(env, cg_device_info_get(static_cast<cg_device>(device), &info))) return nullptr;
  const char* values[] = {info.id, info.name, info.vendor, info.type, info.backend, info.driver_version};
  jobjectArray out = env->NewObjectArray(6, env->FindClass("java/lang/String"), nullptr);
  for (jsize i = 0; i < 6; ++i) env->SetObjectArrayElement(out, i, text(env, values[i]));
  return out;
}

JNIEXPORT jlongArray JNICALL Java_org_crossgpu_Native_deviceNumbers(JNIEnv* env, jclass, jlong device) {
  cg_device_info info;
  if (!ok(env, cg_device_info_get(static_cast<cg_device>(device), &info))) return nullptr;
  const jlong values[] = {static_cast<jlong>(info.memory_total_bytes), static_cast<jlong>(info.memory_free_bytes),
                          static_cast<jlong>(info.max_allocation_bytes), info.storage_16bit, info.unified_memory};
  jlongArray out = env->NewLongArray(5);
  env->SetLongArrayRegion(out, 0, 5, values);
  return out;
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_deviceSynchronize(JNIEnv* env, jclass, jlong device) {
  ok(env, cg_device_synchronize(static_cast<cg_device>(device)));
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_bufferAlloc(JNIEnv* env, jclass, jlong device, jlong bytes,
                                                             jboolean host_visible) {
  if (!non_negative(env, bytes, "bytes")) return 0;
  cg_buffer out = 0;
  const cg_memory_kind kind = host_visible ? CG_MEMORY_HOST_VISIBLE : CG_MEMORY_DEVICE_LOCAL;
  return ok(env, cg_buffer_alloc(static_cast<cg_device>(device), static_cast<uint64_t>(bytes), kind, &out))
             ? static_cast<jlong>(out)
             : 0;
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_bufferFree(JNIEnv* env, jclass, jlong buffer) {
  ok(env, cg_buffer_free(static_cast<cg_buffer>(buffer)));
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_bufferSize(JNIEnv* env, jclass, jlong buffer) {
  uint64_t size = 0;
  return ok(env, cg_buffer_size(static_cast<cg_buffer>(buffer), &size)) ? static_cast<jlong>(size) : 0;
}

JNIEXPORT jobject JNICALL Java_org_crossgpu_Native_bufferMap(JNIEnv* env, jclass, jlong buffer) {
  void* address = nullptr;
  uint64_t size = 0;
  if (!ok(env, cg_buffer_size(static_cast<cg_buffer>(buffer), &size))) return nullptr;
  if (!ok(env, cg_buffer_map(static_cast<cg_buffer>(buffer), &address))) return nullptr;
  return env->NewDirectByteBuffer(address, static_cast<jlong>(size));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_upload(JNIEnv* env, jclass, jlong buffer, jlong offset, jobject data,
                                                       jint position, jint length) {
  if (!non_negative(env, offset, "offset")) return;
  const std::uint8_t* bytes = direct_bytes(env, data, position, length);
  if (bytes == nullptr) return;
  ok(env, cg_upload(static_cast<cg_buffer>(buffer), static_cast<uint64_t>(offset), bytes,
                    static_cast<uint64_t>(length), nullptr));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_download(JNIEnv* env, jclass, jlong buffer, jlong offset, jobject out,
                                                         jint position, jint length) {
  if (!non_negative(env, offset, "offset")) return;
  std::uint8_t* bytes = direct_bytes(env, out, position, length);
  if (bytes == nullptr) return;
  ok(env, cg_download(static_cast<cg_buffer>(buffer), static_cast<uint64_t>(offset), bytes,
                      static_cast<uint64_t>(length), nullptr));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_copy(JNIEnv* env, jclass, jlong src, jlong src_offset, jlong dst,
                                                     jlong dst_offset, jlong bytes) {
  if (!non_negative(env, src_offset, "source offset") || !non_negative(env, dst_offset, "destination offset") ||
      !non_negative(env, bytes, "bytes")) {
    return;
  }
  ok(env, cg_copy(static_cast<cg_buffer>(src), static_cast<uint64_t>(src_offset), static_cast<cg_buffer>(dst),
                  static_cast<uint64_t>(dst_offset), static_cast<uint64_t>(bytes), nullptr));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_fill(JNIEnv* env, jclass, jlong out, jlong n, jfloat value) {
  if (non_negative(env, n, "n")) ok(env, cg_fill(static_cast<cg_buffer>(out), 0, static_cast<uint64_t>(n), value, nullptr));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_add(JNIEnv* env, jclass, jlong a, jlong b, jlong out, jlong n) {
  if (non_negative(env, n, "n")) {
    ok(env, cg_add(static_cast<cg_buffer>(a), static_cast<cg_buffer>(b), static_cast<cg_buffer>(out),
                   static_cast<uint64_t>(n), nullptr));
  }
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_scale(JNIEnv* env, jclass, jlong x, jlong out, jlong n, jfloat alpha) {
  if (non_negative(env, n, "n")) {
    ok(env, cg_scale(static_cast<cg_buffer>(x), static_cast<cg_buffer>(out), static_cast<uint64_t>(n), alpha, nullptr));
  }
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_matmul(JNIEnv* env, jclass, jlong a, jlong b, jlong c, jlong m, jlong n,
                                                       jlong k, jboolean f16) {
  if (!non_negative(env, m, "m") || !non_negative(env, n, "n") || !non_negative(env, k, "k")) return;
  ok(env, cg_matmul(static_cast<cg_buffer>(a), static_cast<cg_buffer>(b), static_cast<cg_buffer>(c),
                    static_cast<uint64_t>(m), static_cast<uint64_t>(n), static_cast<uint64_t>(k), f16 ? CG_F16 : CG_F32,
                    nullptr));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_matvec(JNIEnv* env, jclass, jlong a, jlong x, jlong y, jlong rows,
                                                       jlong cols, jboolean f16) {
  if (!non_negative(env, rows, "rows") || !non_negative(env, cols, "cols")) return;
  ok(env, cg_matvec(static_cast<cg_buffer>(a), static_cast<cg_buffer>(x), static_cast<cg_buffer>(y),
                    static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), f16 ? CG_F16 : CG_F32, nullptr));
}

JNIEXPORT jobjectArray JNICALL Java_org_crossgpu_Native_deviceLocation(JNIEnv* env, jclass, jlong device) {
  cg_device_location where;
  if (!ok(env, cg_device_location_get(static_cast<cg_device>(device), &where))) return nullptr;
  return strings(env, {where.node_id, where.node_address, where.remote_id});
}

JNIEXPORT jobjectArray JNICALL Java_org_crossgpu_Native_deviceTelemetry(JNIEnv* env, jclass, jlong device) {
  cg_telemetry t;
  if (!ok(env, cg_device_telemetry(static_cast<cg_device>(device), &t))) return nullptr;
  const cg_measured_u64* bytes[] = {&t.memory_total_bytes, &t.memory_used_bytes, &t.memory_free_bytes,
                                    &t.memory_budget_bytes};
  const cg_measured_f64* readings[] = {&t.temperature_c, &t.power_w, &t.clock_mhz, &t.utilization};
  jlong byte_values[4];
  jdouble reading_values[4];
  jboolean measured[8];
  for (int i = 0; i < 4; ++i) {
    byte_values[i] = static_cast<jlong>(bytes[i]->value);
    reading_values[i] = readings[i]->value;
    measured[i] = bytes[i]->measured ? JNI_TRUE : JNI_FALSE;
    measured[4 + i] = readings[i]->measured ? JNI_TRUE : JNI_FALSE;
  }
  jlongArray byte_array = env->NewLongArray(4);
  env->SetLongArrayRegion(byte_array, 0, 4, byte_values);
  jdoubleArray reading_array = env->NewDoubleArray(4);
  env->SetDoubleArrayRegion(reading_array, 0, 4, reading_values);
  jbooleanArray measured_array = env->NewBooleanArray(8);
  env->SetBooleanArrayRegion(measured_array, 0, 8, measured);
  jobjectArray sources = strings(env, {bytes[0]->source, bytes[1]->source, bytes[2]->source, bytes[3]->source,
                                       readings[0]->source, readings[1]->source, readings[2]->source,
                                       readings[3]->source});
  jobjectArray out = env->NewObjectArray(4, env->FindClass("java/lang/Object"), nullptr);
  env->SetObjectArrayElement(out, 0, byte_array);
  env->SetObjectArrayElement(out, 1, reading_array);
  env->SetObjectArrayElement(out, 2, measured_array);
  env->SetObjectArrayElement(out, 3, sources);
  return out;
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_validationMessageCount(JNIEnv* env, jclass) {
  uint64_t count = 0;
  return ok(env, cg_validation_message_count(&count)) ? static_cast<jlong>(count) : 0;
}

JNIEXPORT jstring JNICALL Java_org_crossgpu_Native_validationMessagesTake(JNIEnv* env, jclass) {
  return sized_text(env, [](char* out, size_t capacity, size_t* needed) {
    return cg_validation_messages_take(out, capacity, needed);
  });
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_clusterInit(JNIEnv* env, jclass, jstring dir, jstring name,
                                                            jboolean force) {
  Utf d(env, dir), n(env, name);
  if (!d.failed() && !n.failed()) ok(env, cg_cluster_init(d.get(), n.get(), force ? 1 : 0));
}

JNIEXPORT jstring JNICALL Java_org_crossgpu_Native_clusterInvite(JNIEnv* env, jclass, jstring dir, jint role,
                                                                 jlong valid_for, jstring addresses) {
  if (!non_negative(env, valid_for, "validForSeconds")) return nullptr;
  Utf d(env, dir), a(env, addresses);
  if (d.failed() || a.failed()) return nullptr;
  std::vector<char> token(CG_INVITE_TOKEN_CAPACITY);
  if (!ok(env, cg_cluster_invite(d.get(), role, static_cast<uint64_t>(valid_for), a.get(), token.data(), token.size(),
                                 nullptr))) {
    return nullptr;
  }
  return text(env, token.data());
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_clusterJoin(JNIEnv* env, jclass, jstring dir, jstring token,
                                                            jstring name, jboolean force) {
  Utf d(env, dir), t(env, token), n(env, name);
  if (!d.failed() && !t.failed() && !n.failed()) ok(env, cg_cluster_join(d.get(), t.get(), n.get(), force ? 1 : 0));
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_clusterRemove(JNIEnv* env, jclass, jstring dir, jstring node_id) {
  Utf d(env, dir), n(env, node_id);
  if (!d.failed() && !n.failed()) ok(env, cg_cluster_remove(d.get(), n.get()));
}

JNIEXPORT jstring JNICALL Java_org_crossgpu_Native_clusterStatusJson(JNIEnv* env, jclass, jstring dir,
                                                                     jstring address) {
  Utf d(env, dir), a(env, address);
  if (d.failed() || a.failed()) return nullptr;
  return sized_text(env, [&](char* out, size_t capacity, size_t* needed) {
    return cg_cluster_status_json(d.get(), a.get(), out, capacity, needed);
  });
}

JNIEXPORT jlong JNICALL Java_org_crossgpu_Native_nodeStart(JNIEnv* env, jclass, jstring dir, jstring listen,
                                                           jlong registry, jlong quota) {
  if (!non_negative(env, quota, "quotaBytes")) return 0;
  Utf d(env, dir), l(env, listen);
  if (d.failed() || l.failed()) return 0;
  cg_node out = 0;
  return ok(env, cg_node_start(d.get(), l.get(), static_cast<cg_registry>(registry), static_cast<uint64_t>(quota), &out))
             ? static_cast<jlong>(out)
             : 0;
}

JNIEXPORT jint JNICALL Java_org_crossgpu_Native_nodePort(JNIEnv* env, jclass, jlong node) {
  int port = 0;
  return ok(env, cg_node_port(static_cast<cg_node>(node), &port)) ? port : 0;
}

JNIEXPORT jstring JNICALL Java_org_crossgpu_Native_nodeId(JNIEnv* env, jclass, jlong node) {
  return sized_text(env, [&](char* out, size_t capacity, size_t* needed) {
    return cg_node_id(static_cast<cg_node>(node), out, capacity, needed);
  });
}

JNIEXPORT void JNICALL Java_org_crossgpu_Native_nodeStop(JNIEnv* env, jclass, jlong node) {
  ok(env, cg_node_stop(static_cast<cg_node>(node)));
}

JNIEXPORT jint JNICALL Java_org_crossgpu_Native_registryConnect(JNIEnv* env, jclass, jlong registry, jstring dir,
                                                                jstring address) {
  Utf d(env, dir), a(env, address);
  if (d.failed() || a.failed()) return 0;
  size_t added = 0;
  return ok(env, cg_registry_connect(static_cast<cg_registry>(registry), d.get(), a.get(), &added))
             ? static_cast<jint>(added)
             : 0;
}

}  // extern "C"
