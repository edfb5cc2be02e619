/* Sanitizer builds only (cmake/Sanitize.cmake links this into every executable): dlclose() does
 * nothing, so every library loaded at run time stays mapped until the process exits.
 *
 * Why: the Vulkan loader dlopen()s the driver (lavapipe, libvulkan_lvp.so) and the validation
 * layer and dlclose()s them when the instance is destroyed. LeakSanitizer runs at exit, after
 * that: memory the driver still referenced from its own globals then looks leaked, and its
 * allocation stack points into a module that is gone, "<unknown module>", so it can neither be
 * told apart from a leak of crossgpu's nor suppressed by name. Kept loaded, the driver's globals
 * stay roots of the leak scan, and whatever the driver really leaks is reported under its library
 * name, which tests/sanitizer/lsan.supp suppresses — by that name only, never crossgpu's code.
 *
 * The executable's definition takes precedence over libc's for every library (the executable
 * comes first in the global lookup scope; the link exports the symbol). Handles are never
 * freed: a later dlopen() of the same library returns the same handle, as the loader expects. */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
