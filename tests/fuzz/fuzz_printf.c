/* libFuzzer target for the printf engine: the input is a format string, a NUL, then bytes the
 * arguments are made from. The engine's own parser says what type each argument has
 * (trace__printf_arg_types), so every argument is a real value of its type: integers and doubles
 * from the bytes, strings that are valid both as char and wchar_t strings, and %n targets whose
 * memory is checked afterwards. The format is then written several ways, and these must hold:
 *
 *   - nothing crashes or trips ASan/UBSan, and no conversion takes long (libFuzzer's -timeout:
 *     a width or precision of INT_MAX must cost what the buffer can hold);
 *   - output never passes the buffer's limit, and a growable buffer never allocates much past it;
 *   - %n never writes (the memory behind every pointer argument is unchanged);
 *   - escaped output holds no raw control character, and in JSON mode no unescaped quote;
 *   - unescaped, the text cut by a small buffer is a prefix of the text in a large one, and the
 *     bytes the small one counted as dropped make up the same full length;
 *   - when all arguments have one type, the va_list path (sequential or positional) writes the
 *     same bytes as the array path.
 *
 *   build: part of the CMake build when clang is available (TRACE_BUILD_FUZZERS)
 *   run:   build/tests/fuzz/fuzz_printf tests/fuzz/corpus/printf  (copy it first: libFuzzer adds
 *          what it finds to the first directory) */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "text/printf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS TRACE__PRINTF_ARGS_MAX
#define STR_CHARS 12 /* wide characters per string argument */
#define BIG (64 * 1024)
#define ERRNO_VALUE 2 /* what %m describes */

typedef struct input {
  const uint8_t *p, *end;
} input;

static uint64_t take(input *in, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && in->p < in->end; i++)
    v |= (uint64_t)*in->p++ << (8 * i);
  return v;
}

/* A string argument: NUL-terminated as wchar_t, and so (its last wchar_t is 0) as char too. Its
 * characters are mostly small, to give the char view text to print, sometimes anything. */
typedef struct str_arg {
  wchar_t w[STR_CHARS + 1];
} str_arg;

static void make_string(str_arg *s, input *in) {
  memset(s, 0, sizeof *s);
  size_t n = (size_t)take(in, 1) % (STR_CHARS + 1);
  for (size_t i = 0; i < n; i++) {
    uint32_t c = (uint32_t)take(in, 1);
    if (c == 0xff)
      c = (uint32_t)take(in, 4);
    else if (c >= 0x80)
      c = 0x0101u * (c & 0x7f) + 0x20; /* two printable-ish bytes in the char view */
    s->w[i] = (wchar_t)(c ? c : 'x');
  }
}

static void make_arg(trace__printf_arg *a, uint8_t type, input *in, str_arg *strings, size_t i) {
  a->type = type;
  switch (type) {
  case TRACE__ARG_DOUBLE: {
    uint64_t bits = take(in, 8);
    memcpy(&a->as.d, &bits, sizeof a->as.d);
    break;
  }
  case TRACE__ARG_LDOUBLE: {
    /* From a double and an exponent: any value, without the invalid x87 encodings. */
    uint64_t bits = take(in, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    a->as.ld = ldexpl((long double)d, (int)(take(in, 2) % 32768) - 16384);
    break;
  }
  case TRACE__ARG_PTR:
    if (take(in, 1) == 0xfe) {
      a->as.ptr = NULL;
    } else {
      make_string(&strings[i], in);
      a->as.ptr = &strings[i];
    }
    break;
  default: { /* integers: the width of the type, sign-extended as the engine keeps them */
    uint64_t v = take(in, 8);
    switch (type) {
    case TRACE__ARG_INT: v = (uint64_t)(int64_t)(int)v; break;
    case TRACE__ARG_UINT:
    case TRACE__ARG_WINT: v = (unsigned)v; break;
    default: break;
    }
    a->as.bits = v;
    break;
  }
  }
}

static void check_escaped(const char *s, size_t len, trace__escape_mode mode) {
  bool escaped = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      abort(); /* a raw control character: a forged line, a moved cursor */
    if (mode == TRACE__ESC_JSON) {
      if (c == '"' && !escaped)
        abort(); /* would end the JSON string */
      escaped = !escaped && c == '\\';
    }
  }
}

static void format_into(trace__buf *b, char *storage, size_t cap, const char *fmt,
                        const trace__printf_arg *args, size_t n, trace__escape_mode mode,
                        bool escape) {
  trace__buf_init_fixed(b, storage, cap);
  trace__format_args(b, fmt, args, n, mode, escape, ERRNO_VALUE);
  if (b->len > cap)
    abort();
}

/* The va_list path, for formats whose arguments all have one type: passing eight of that type
 * gives the engine what it reads (unused ones are ignored, as printf allows). */
static void vformat(trace__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  trace__vformat(b, fmt, ap, TRACE__ESC_TEXT, false, ERRNO_VALUE);
  va_end(ap);
}

static void compare_with_va_list(const char *fmt, const uint8_t *types, size_t n,
                                 const trace__printf_arg *args, const char *want, size_t want_len) {
  if (n == 0 || n > 8)
    return;
  for (size_t i = 1; i < n; i++)
    if (types[i] != types[0])
      return;
  static char out[BIG];
  trace__buf b;
  trace__buf_init_fixed(&b, out, sizeof out);
  /* Eight arguments of the type: the n made ones, then the first again. */
  trace__printf_arg a[8];
  for (size_t i = 0; i < 8; i++)
    a[i] = args[i < n ? i : 0];
  switch (types[0]) {
  case TRACE__ARG_INT:
    vformat(&b, fmt, (int)a[0].as.bits, (int)a[1].as.bits, (int)a[2].as.bits, (int)a[3].as.bits,
            (int)a[4].as.bits, (int)a[5].as.bits, (int)a[6].as.bits, (int)a[7].as.bits);
    break;
  case TRACE__ARG_DOUBLE:
    vformat(&b, fmt, a[0].as.d, a[1].as.d, a[2].as.d, a[3].as.d, a[4].as.d, a[5].as.d, a[6].as.d,
            a[7].as.d);
    break;
  case TRACE__ARG_PTR:
    vformat(&b, fmt, a[0].as.ptr, a[1].as.ptr, a[2].as.ptr, a[3].as.ptr, a[4].as.ptr, a[5].as.ptr,
            a[6].as.ptr, a[7].as.ptr);
    break;
  default:
    return;
  }
  if (b.len != want_len || memcmp(out, want, want_len) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t fmt_len = nul ? (size_t)(nul - data) : size;
  if (fmt_len > 4096)
    return 0;
  char *fmt = malloc(fmt_len + 1);
  if (!fmt)
    return 0;
  memcpy(fmt, data, fmt_len);
  fmt[fmt_len] = '\0';
  input in = {nul ? nul + 1 : data + size, data + size};
  size_t small_cap = (size_t)take(&in, 2) % 600;
  trace__escape_mode mode = take(&in, 1) & 1 ? TRACE__ESC_JSON : TRACE__ESC_TEXT;

  uint8_t types[MAX_ARGS];
  size_t n = trace__printf_arg_types(fmt, types, MAX_ARGS);
  static trace__printf_arg args[MAX_ARGS];
  static str_arg strings[MAX_ARGS], before[MAX_ARGS];
  for (size_t i = 0; i < n; i++)
    make_arg(&args[i], types[i], &in, strings, i);
  memcpy(before, strings, sizeof strings);

  static char big[BIG], small[600];
  trace__buf b, s;
  /* Escaped, in a buffer of a few hundred bytes: cut, and still clean. */
  format_into(&s, small, small_cap, fmt, args, n, mode, true);
  check_escaped(small, s.len, mode);
  /* Unescaped: the cut text is a prefix of the whole, and the full lengths agree. */
  format_into(&b, big, sizeof big, fmt, args, n, TRACE__ESC_TEXT, false);
  format_into(&s, small, small_cap, fmt, args, n, TRACE__ESC_TEXT, false);
  if (!b.truncated && (s.len + s.dropped != b.len || memcmp(small, big, s.len) != 0))
    abort();
  if (!b.truncated)
    compare_with_va_list(fmt, types, n, args, big, b.len);
  /* A growable buffer stays near its limit. */
  trace__buf g;
  size_t limit = 1 + (size_t)take(&in, 2) % 8192;
  trace__buf_init_growable(&g, limit);
  trace__format_args(&g, fmt, args, n, mode, true, ERRNO_VALUE);
  if (g.len > limit || g.alloc > 2 * limit + 256)
    abort();
  check_escaped(g.data ? g.data : "", g.len, mode);
  trace__buf_free(&g);
  /* %n wrote nothing anywhere. */
  if (memcmp(before, strings, sizeof strings) != 0)
    abort();
  free(fmt);
  return 0;
}
