/* Checks shared by the C ABI test programs: count failures, report them with the call and the
 * library's message, and fail the program on any Vulkan validation message. */
#ifndef CROSSGPU_TEST_CAPI_CHECK_H
#define CROSSGPU_TEST_CAPI_CHECK_H

#include <crossgpu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);     \
      fprintf(stderr, __VA_ARGS__);                       \
      fprintf(stderr, "\n");                              \
      ++failures;                                         \
    }                                                     \
  } while (0)

#define OK(call)                                                                               \
  do {                                                                                         \
    cg_status s_ = (call);                                                                     \
    CHECK(s_ == CG_OK, "%s -> %s: %s", #call, cg_status_name(s_), cg_last_error());            \
  } while (0)

#define FAILS(call, expected)                                                                  \
  do {                                                                                         \
    cg_status s_ = (call);                                                                     \
    CHECK(s_ == (expected), "%s -> %s (expected %s): %s", #call, cg_status_name(s_),           \
          cg_status_name(expected), cg_last_error());                                          \
    CHECK(s_ == CG_OK || strlen(cg_last_error()) > 0, "%s gave no message", #call);            \
  } while (0)

/* Prints and counts every validation message the library saw; 0 when there were none. */
static int validation_messages_seen(void) {
  size_t needed = 0;
  cg_status s = cg_validation_messages_take(NULL, 0, &needed);
  if (s == CG_OK) return 0;
  char* text = malloc(needed);
  if (text == NULL || cg_validation_messages_take(text, needed, &needed) != CG_OK) {
    fprintf(stderr, "cannot read the validation messages: %s\n", cg_last_error());
    free(text);
    return 1;
  }
  int seen = text[0] != '\0';
  if (seen) fprintf(stderr, "VULKAN VALIDATION:\n%s", text);
  free(text);
  return seen;
}

/* The exit code: fails on any check or validation message. */
static int finish_checks(const char* suite) {
  uint64_t count = 0;
  OK(cg_validation_message_count(&count));
  if (validation_messages_seen() || count != 0) {
    fprintf(stderr, "%llu Vulkan validation message(s)\n", (unsigned long long)count);
    ++failures;
  }
  if (failures) fprintf(stderr, "%s: %d failure(s)\n", suite, failures);
  else printf("%s: all checks passed\n", suite);
  return failures ? 1 : 0;
}

#endif
