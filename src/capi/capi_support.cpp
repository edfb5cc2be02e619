#include "capi/capi_support.hpp"

#include <cstring>

namespace crossgpu::capi {

HandleTable<std::shared_ptr<RegistryEntry>>& registries() {
  static HandleTable<std::shared_ptr<RegistryEntry>> table("registry");
  return table;
}
HandleTable<std::shared_ptr<Device>>& devices() {
  static HandleTable<std::shared_ptr<Device>> table("device");
  return table;
}
HandleTable<std::shared_ptr<Buffer>>& buffers() {
  static HandleTable<std::shared_ptr<Buffer>> table("buffer");
  return table;
}
HandleTable<Event>& events() {
  static HandleTable<Event> table("event");
  return table;
}

std::string& last_error() {
  thread_local std::string message;
  return message;
}

std::string required_text(const char* text, const char* what) {
  if (text == nullptr || *text == '\0') fail(Errc::invalid_argument, "{} is null or empty", what);
  return text;
}

void copy_text(char* dst, std::size_t capacity, const std::string& text) {
  std::strncpy(dst, text.c_str(), capacity - 1);
  dst[capacity - 1] = '\0';
}

void write_text(const std::string& text, char* out, std::size_t capacity, std::size_t* needed, const char* what) {
  if (needed != nullptr) *needed = text.size() + 1;
  if (out == nullptr || capacity < text.size() + 1) {
    fail(Errc::out_of_range, "{} needs {} bytes, the buffer holds {}", what, text.size() + 1, out ? capacity : 0);
  }
  std::memcpy(out, text.c_str(), text.size() + 1);
}

}  // namespace crossgpu::capi
