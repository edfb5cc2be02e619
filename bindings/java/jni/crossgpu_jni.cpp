// JNI over the C ABI (include/crossgpu.h): every method converts arguments, calls one cg_*
// function and turns a failure into the Java exception Exceptions.of(status, message) builds.
// Nothing here keeps state: the C ABI's handle tables are the single source of truth and are
// thread-safe, so the Java classes are too.
#include <jni.h>

#include <cstdint>
#include <string>

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

}  // extern "C"
