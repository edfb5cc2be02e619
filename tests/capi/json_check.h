/* A strict JSON syntax check for the tests (RFC 8259 grammar, no semantic checks): enough to
 * prove that a JSON output parses, without a JSON library in a C test. */
#ifndef CROSSGPU_TEST_CAPI_JSON_CHECK_H
#define CROSSGPU_TEST_CAPI_JSON_CHECK_H

#include <ctype.h>
#include <string.h>

static const char* json_value(const char* p, int depth);

static const char* json_space(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
  return p;
}

static const char* json_string(const char* p) {
  if (*p++ != '"') return NULL;
  while (*p != '"') {
    if ((unsigned char)*p < 0x20) return NULL; /* also the end of the text */
    if (*p == '\\') {
      ++p;
      if (*p == 'u') {
        for (int i = 1; i <= 4; ++i) if (!isxdigit((unsigned char)p[i])) return NULL;
        p += 4;
      } else if (*p == '\0' || !strchr("\"\\/bfnrt", *p)) {
        return NULL;
      }
    }
    ++p;
  }
  return p + 1;
}

static const char* json_number(const char* p) {
  if (*p == '-') ++p;
  if (!isdigit((unsigned char)*p)) return NULL;
  if (*p == '0') ++p;
  else while (isdigit((unsigned char)*p)) ++p;
  if (*p == '.') {
    if (!isdigit((unsigned char)*++p)) return NULL;
    while (isdigit((unsigned char)*p)) ++p;
  }
  if (*p == 'e' || *p == 'E') {
    ++p;
    if (*p == '+' || *p == '-') ++p;
    if (!isdigit((unsigned char)*p)) return NULL;
    while (isdigit((unsigned char)*p)) ++p;
  }
  return p;
}

/* Members of an object (`close` '}') or elements of an array (`close` ']'), after the opener. */
static const char* json_items(const char* p, char close, int depth) {
  p = json_space(p);
  if (*p == close) return p + 1;
  for (;;) {
    if (close == '}') {
      p = json_string(json_space(p));
      if (p == NULL || *(p = json_space(p)) != ':') return NULL;
      ++p;
    }
    p = json_value(p, depth + 1);
    if (p == NULL) return NULL;
    p = json_space(p);
    if (*p == close) return p + 1;
    if (*p++ != ',') return NULL;
  }
}

static const char* json_value(const char* p, int depth) {
  if (depth > 64) return NULL;
  p = json_space(p);
  switch (*p) {
    case '{': return json_items(p + 1, '}', depth);
    case '[': return json_items(p + 1, ']', depth);
    case '"': return json_string(p);
    case 't': return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return json_number(p);
  }
}

/* 1 when `text` is exactly one JSON value. */
static int json_parses(const char* text) {
  const char* end = json_value(text, 0);
  return end != NULL && *json_space(end) == '\0';
}

#endif
