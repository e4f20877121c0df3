/* Escaping: the table of what each mode does to hostile text. */
#include "helpers.h"
#include "text/escape.h"

typedef struct row {
  const char *in;
  size_t len; /* 0: strlen */
  const char *text, *quoted, *json;
} row;

static const row rows[] = {
    {"plain ascii", 0, "plain ascii", "plain ascii", "plain ascii"},
    {"a\nb\rc\td", 0, "a\\nb\\rc\\td", "a\\nb\\rc\\td", "a\\nb\\rc\\td"},
    {"q\"b\\s", 0, "q\"b\\s", "q\\\"b\\\\s", "q\\\"b\\\\s"},
    {"\x1b[31mred", 0, "\\u{1b}[31mred", "\\u{1b}[31mred", "\\u001b[31mred"},
    {"nul\0in", 6, "nul\\0in", "nul\\0in", "nul\\u0000in"},
    {"del\x7f", 0, "del\\u{7f}", "del\\u{7f}", "del\\u007f"},
    {"\b\f", 0, "\\u{8}\\u{c}", "\\u{8}\\u{c}", "\\b\\f"},
    {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 0, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
     "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"bad\xff\xfe", 0, "bad\\xff\\xfe", "bad\\xff\\xfe", "bad\\\\xff\\\\xfe"},
    {"trunc\xe2\x82", 0, "trunc\\xe2\\x82", "trunc\\xe2\\x82", "trunc\\\\xe2\\\\x82"},
    {"overlong\xc0\xaf", 0, "overlong\\xc0\\xaf", "overlong\\xc0\\xaf", "overlong\\\\xc0\\\\xaf"},
    {"surrogate\xed\xa0\x80", 0, "surrogate\\xed\\xa0\\x80", "surrogate\\xed\\xa0\\x80",
     "surrogate\\\\xed\\\\xa0\\\\x80"},
    {"c1\xc2\x9b", 0, "c1\\u{9b}", "c1\\u{9b}", "c1\\u009b"},
    {"ls\xe2\x80\xa8ps\xe2\x80\xa9", 0, "ls\\u{2028}ps\\u{2029}", "ls\\u{2028}ps\\u{2029}",
     "ls\\u2028ps\\u2029"},
    {"bidi\xe2\x80\xae", 0, "bidi\\u{202e}", "bidi\\u{202e}", "bidi\\u202e"},
    {"\nERROR forged line", 0, "\\nERROR forged line", "\\nERROR forged line",
     "\\nERROR forged line"},
};

static void escape_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const row *r = &rows[i];
    size_t len = r->len ? r->len : strlen(r->in);
    const char *expected[3] = {r->text, r->quoted, r->json};
    for (int mode = 0; mode < 3; mode++) {
      char out[256];
      trace__buf b;
      trace__buf_init_fixed(&b, out, sizeof out - 1);
      trace__escape(&b, r->in, len, (trace__escape_mode)mode);
      out[b.len] = '\0';
      if (strcmp(out, expected[mode]) != 0) {
        print_error("row %zu mode %d: got '%s' want '%s'\n", i, mode, out, expected[mode]);
        fail();
      }
      for (size_t k = 0; k < b.len; k++)
        assert_true((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
    }
  }
}

static void escape_truncates_at_limit(void **state) {
  (void)state;
  char out[8];
  trace__buf b;
  trace__buf_init_fixed(&b, out, sizeof out);
  trace__escape(&b, "0123456789", 10, TRACE__ESC_TEXT);
  assert_int_equal(b.len, 8);
  assert_true(b.truncated);
}

/* The eight-bytes-at-a-time scanner against a plain per-byte reference, for every position of a
 * byte that needs attention in strings longer than a word. */
static void reference_escape(char *out, const char *in, size_t len, int mode) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if ((c == '"' || c == '\\') && mode != TRACE__ESC_TEXT) {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == 0x7f) {
      o += (size_t)sprintf(out + o, mode == TRACE__ESC_JSON ? "\\u007f" : "\\u{7f}");
    } else if (c == 0xff) {
      o += (size_t)sprintf(out + o, mode == TRACE__ESC_JSON ? "\\\\xff" : "\\xff");
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
}

static void scanner_matches_reference(void **state) {
  (void)state;
  const char specials[] = {'\n', '"', '\\', 0x7f, (char)0xff, 'x'};
  for (int mode = 0; mode < 3; mode++) {
    for (size_t len = 1; len < 40; len++) {
      for (size_t pos = 0; pos < len; pos++) {
        for (size_t k = 0; k < sizeof specials; k++) {
          char in[64], want[512], got[512];
          memset(in, 'a', len);
          in[pos] = specials[k];
          if (pos + 2 < len) {
            in[pos + 1] = (char)0xc3; /* a valid two-byte sequence after it */
            in[pos + 2] = (char)0xa9;
          }
          reference_escape(want, in, len, mode);
          trace__buf b;
          trace__buf_init_fixed(&b, got, sizeof got - 1);
          trace__escape(&b, in, len, (trace__escape_mode)mode);
          got[b.len] = '\0';
          if (strcmp(got, want) != 0) {
            print_error("mode %d len %zu pos %zu char %02x: got '%s' want '%s'\n", mode, len, pos,
                        (unsigned char)specials[k], got, want);
            fail();
          }
        }
      }
    }
  }
}

/* The inline fast path (whole words checked at once for 4 to 16 bytes, and %s strings) against
 * the general function, for every byte value at every position of every short length: the word
 * test must never let through a byte that the table says needs attention. */
static void fast_path_matches_general(void **state) {
  (void)state;
  for (int mode = 0; mode < 3; mode++) {
    for (size_t len = 1; len <= 20; len++) {
      for (size_t pos = 0; pos < len; pos++) {
        for (unsigned c = 0; c < 256; c++) {
          char in[32], want[256], got[256], viacstr[256];
          memset(in, 'a', len);
          in[pos] = (char)c;
          in[len] = '\0';
          trace__buf w, g, z;
          trace__buf_init_fixed(&w, want, sizeof want - 1);
          trace__buf_init_fixed(&g, got, sizeof got - 1);
          trace__buf_init_fixed(&z, viacstr, sizeof viacstr - 1);
          trace__escape(&w, in, len, (trace__escape_mode)mode);
          trace__escape_fast(&g, in, len, (trace__escape_mode)mode);
          trace__escape_cstr(&z, in, (trace__escape_mode)mode);
          want[w.len] = got[g.len] = viacstr[z.len] = '\0';
          assert_int_equal(g.len, w.len);
          assert_memory_equal(got, want, w.len);
          /* a NUL ends a C string: only the part before it is escaped */
          if (c != 0) {
            assert_string_equal(viacstr, want);
          } else {
            assert_int_equal(z.len, pos);
            assert_memory_equal(viacstr, in, pos);
          }
          /* copied unchanged exactly when the table says the byte is plain */
          bool unchanged = w.len == len && memcmp(want, in, len) == 0;
          if (unchanged != (trace__plain[mode][c] != 0)) {
            print_error("mode %d len %zu pos %zu byte %02x\n", mode, len, pos, c);
            fail();
          }
        }
      }
    }
  }
}

/* A buffer with no room for the whole string takes what fits, marked truncated. */
static void fast_path_truncates(void **state) {
  (void)state;
  char out[8];
  trace__buf b;
  trace__buf_init_fixed(&b, out, 5);
  trace__escape_fast(&b, "abcdefghij", 10, TRACE__ESC_QUOTED);
  assert_int_equal(b.len, 5);
  assert_memory_equal(out, "abcde", 5);
  assert_true(b.truncated);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(escape_table),
      cmocka_unit_test(escape_truncates_at_limit),
      cmocka_unit_test(scanner_matches_reference),
      cmocka_unit_test(fast_path_matches_general),
      cmocka_unit_test(fast_path_truncates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
