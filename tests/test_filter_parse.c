/* The env-filter's grammar: what parses and how it is normalised, the exact error of each kind of
 * bad input (with its offset), the lossy parser's warnings, the limits that bound parse time, and
 * hostile input (random and binary) that must give an answer, never a crash or a hang. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "filter/regex.h"
#include "helpers.h"
#include "trace/env_filter.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The normalised spec of a strict parse, or "ERROR: <message>". */
static void parse_to_text(const char *spec, char *out, size_t cap) {
  trace_env_filter *f = NULL;
  trace_filter_error err;
  int rc = trace_env_filter_parse(spec, &f, &err);
  if (rc != 0) {
    assert_int_equal(rc, TRACE_EPARSE);
    assert_null(f);
    snprintf(out, cap, "ERROR: %s", err.message);
    return;
  }
  trace_env_filter_spec(f, out, cap);
  trace_env_filter_release(f);
}

/* Runs fn with stderr captured into out. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t cap) {
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  dup2(fileno(tmp), 2);
  fn(arg);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(out, 1, cap - 1, tmp);
  out[n] = '\0';
  fclose(tmp);
}

/* ---------------------------------------------------------------------------------------- */
/* Valid filters and their normal form (which parses back to itself). */

static const struct {
  const char *spec, *normal;
} valid[] = {
    {"info", "info"},
    {"INFO", "info"},
    {"Warn", "warn"},
    {"off", "off"},
    {"0", "off"},
    {"1", "error"},
    {"5", "trace"},
    {"app", "app=trace"},
    {"app=", "app=trace"},
    {"app=4", "app=debug"},
    {"app::net=TRACE", "app::net=trace"},
    {"a.b/c-d_e:f=info", "a.b/c-d_e:f=info"},
    {" warn , app = debug ", "warn,app=debug"},
    {"\twarn,\n app=debug\n", "warn,app=debug"},
    {"warn,app::net=debug,[request{path=/z}]=trace", "warn,app::net=debug,[request{path=/z}]=trace"},
    {"[request]", "[request]=trace"},
    {"[request]=debug", "[request]=debug"},
    {"app[request]=trace", "app[request]=trace"},
    {"[ my span ]=info", "[my span]=info"},
    {"[{user_id}]=debug", "[{user_id}]=debug"},
    {"[{user_id=42}]=trace", "[{user_id=42}]=trace"},
    /* Several fields in one directive (tracing cannot parse these), sorted by name. */
    {"[{a=1,b=2}]", "[{a=1,b=2}]=trace"},
    {"[req{ b = 2 , a }]=debug", "[req{a,b=2}]=debug"},
    {"[conn{peer=10\\.0\\..*}]=trace", "[conn{peer=10\\.0\\..*}]=trace"},
    /* Typed values: bool, u64, negative i64, f64 (printed so they read back as the same type). */
    {"[{a=true,b=false,c=True}]", "[{a=true,b=false,c=True}]=trace"},
    {"[{a=0500,b=+7,c=18446744073709551615}]", "[{a=500,b=7,c=18446744073709551615}]=trace"},
    {"[{a=-3,b=-9223372036854775808}]", "[{a=-3,b=-9223372036854775808}]=trace"},
    {"[{a=-0,b=0.5,c=1.5e3,d=1.,e=.25,f=1e-7}]", "[{a=-0.0,b=0.5,c=1500.0,d=1.0,e=0.25,f=1e-7}]=trace"},
    {"[{a=18446744073709551616,b=-9223372036854775809}]",
     "[{a=1.8446744073709552e19,b=-9.223372036854776e18}]=trace"},
    /* Not numbers: regular expressions. */
    {"[{a=1e999,b=0x10,c=1-2,d=abc}]", "[{a=1e999,b=0x10,c=1-2,d=abc}]=trace"},
    /* Quoted: exact strings, with \" and \\ escapes; commas, brackets and '=' inside are text. */
    {"[{path=\"/z\"}]=trace", "[{path=\"/z\"}]=trace"},
    {"[{q=\"a,b]}{[=\\\"c\\\\\"}]", "[{q=\"a,b]}{[=\\\"c\\\\\"}]=trace"},
    {"[{q=\"\"}]", "[{q=\"\"}]=trace"},
    {"[{q=\"a\\nb\"}]", "[{q=\"a\\\\nb\"}]=trace"},
    /* Regular expressions may hold balanced brackets and braces, and escapes. */
    {"[{a=[0-9]{1,3}\\.x}]", "[{a=[0-9]{1,3}\\.x}]=trace"},
    {"[{a=x\\,y\\}}]", "[{a=x\\,y\\}}]=trace"},
    {"[{a=b=c}]", "[{a=b=c}]=trace"},
    /* Equal directives: the later replaces the earlier. */
    {"app=debug,app=warn", "app=warn"},
    {"info,debug", "debug"},
    {"db=off,info,db=info", "info,db=info"},
    {"[request]=trace,[request]=debug", "[request]=debug"},
    {"[{b=1,a=2}]=info,[{a=2,b=1}]=warn", "[{a=2,b=1}]=warn"},
    {"[{a=1}]=info,[{a=\"1\"}]=warn", "[{a=1}]=info,[{a=\"1\"}]=warn"},
    /* No directive at all: nothing is enabled. */
    {"", ""},
    {"   ", ""},
};

static void valid_filters_normalise(void **state) {
  (void)state;
  for (size_t i = 0; i < N_OF(valid); i++) {
    char got[512], again[512];
    parse_to_text(valid[i].spec, got, sizeof got);
    if (strcmp(got, valid[i].normal) != 0)
      fail_msg("'%s': got '%s', want '%s'", valid[i].spec, got, valid[i].normal);
    parse_to_text(got, again, sizeof again);
    if (strcmp(got, again) != 0)
      fail_msg("'%s' is not a fixed point: '%s'", got, again);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Errors: the directive, the offset in the whole input, the reason. */

static const struct {
  const char *spec, *directive, *message;
  size_t offset;
} bad[] = {
    {"app=verbose", "app=verbose", "unknown level 'verbose' at 4", 4},
    {"warn,app::net=verbose", "app::net=verbose", "unknown level 'verbose' at 14", 14},
    {"info,app=6", "app=6", "unknown level '6' at 9", 9},
    {"a,,b", "", "empty directive at 2", 2},
    {"info,", "", "empty directive at 5", 5},
    {",info", "", "empty directive at 0", 0},
    {"=", "=", "missing target before '=' at 0", 0},
    {"=info", "=info", "missing target before '=' at 0", 0},
    {"a=b=c", "a=b=c", "unexpected '=' at 3", 3},
    {"[", "[", "unclosed '[' at 0", 0},
    {"info,[req{a=1", "[req{a=1", "unclosed '{' at 9", 9},
    {"a]b,info", "a]b", "unexpected ']' at 1", 1},
    {"[a},info", "[a}", "unexpected '}' (the '[' at 0 is still open) at 2", 2},
    {"[{a=\"x}]", "[{a=\"x}]", "unterminated quote at 4", 4},
    {"{}", "{}", "unexpected '{' (fields go inside '[...]') at 0", 0},
    {"app{a=1}=debug", "app{a=1}=debug", "unexpected '{' (fields go inside '[...]') at 3", 3},
    {"[]", "[]", "empty '[]' at 0", 0},
    {"[{}]", "[{}]", "empty field list '{}' at 1", 1},
    {"[x]y=info", "[x]y=info", "unexpected 'y' after ']' at 3", 3},
    {"[x{a}y]=info", "[x{a}y]=info", "unexpected 'y' after '}' at 5", 5},
    {"[a,b]=info", "[a,b]=info", "invalid character ',' in span name at 2", 2},
    {"my app=info", "my app=info", "invalid character ' ' in target at 2", 2},
    {"a\x01" "b", "a\\u{1}b", "invalid character '\\u{1}' in target at 1", 1},
    {"[{a,,b}]", "[{a,,b}]", "empty field at 4", 4},
    {"[{=1}]", "[{=1}]", "missing field name at 2", 2},
    {"[{a b=1}]", "[{a b=1}]", "invalid character ' ' in field name at 3", 3},
    {"[{a=1,a=2}]", "[{a=1,a=2}]", "duplicate field 'a' at 6", 6},
    {"[{a=}]", "[{a=}]", "missing value for field 'a' at 4", 4},
    {"[{a=\"x\"y}]", "[{a=\"x\"y}]", "unexpected 'y' after the closing quote at 7", 7},
    /* Regular expressions: PCRE2's message, at the offset it gives within the pattern. */
    {"[{a=(}]", "[{a=(}]", "bad regular expression: missing closing parenthesis at 5", 5},
    /* A ')' cannot close more than the pattern opened: PCRE2 anchors it, no ^( )$ wraps it. */
    {"[{a=x)|(y}]", "[{a=x)|(y}]", "bad regular expression: unmatched closing parenthesis at 5", 5},
    {"[{a=*x}]", "[{a=*x}]",
     "bad regular expression: quantifier does not follow a repeatable item at 4", 4},
    {"[{a=x\\C}]", "[{a=x\\C}]", "bad regular expression: using \\C is disabled by the application at 7",
     7},
    {"[{a=x{2}{3}}]", "[{a=x{2}{3}}]",
     "bad regular expression: quantifier does not follow a repeatable item at 10", 10},
    {"[{a=(?<=a+)b}]", "[{a=(?<=a+)b}]",
     "bad regular expression: lookbehind assertion is not fixed length at 4", 4},
    {"[{a=x\xff}]", "[{a=x\\xff}]",
     "bad regular expression: UTF-8 error: illegal byte (0xfe or 0xff) at 5", 5},
    {"[{a=\\p{Nope}}]", "[{a=\\p{Nope}}]",
     "bad regular expression: unknown property after \\P or \\p at 12", 12},
};

static void errors_name_the_directive_offset_and_reason(void **state) {
  (void)state;
  for (size_t i = 0; i < N_OF(bad); i++) {
    trace_env_filter *f = (trace_env_filter *)&f; /* must be set to NULL */
    trace_filter_error err;
    memset(&err, 'x', sizeof err);
    int rc = trace_env_filter_parse(bad[i].spec, &f, &err);
    if (rc != TRACE_EPARSE || f != NULL)
      fail_msg("'%s': rc %d", bad[i].spec, rc);
    if (strcmp(err.message, bad[i].message) != 0 || strcmp(err.directive, bad[i].directive) != 0 ||
        err.offset != bad[i].offset)
      fail_msg("'%s': got [%s] '%s' offset %zu; want [%s] '%s' offset %zu", bad[i].spec,
               err.directive, err.message, err.offset, bad[i].directive, bad[i].message,
               bad[i].offset);
    /* err is optional. */
    assert_int_equal(trace_env_filter_parse(bad[i].spec, &f, NULL), TRACE_EPARSE);
  }
  trace_env_filter *f;
  assert_int_equal(trace_env_filter_parse(NULL, &f, NULL), TRACE_EINVAL);
  assert_null(f);
  assert_int_equal(trace_env_filter_parse("info", NULL, NULL), TRACE_EINVAL);
}

/* Long directives and tokens are cut in messages, and the error fields stay terminated. */
static void long_directives_are_cut_in_messages(void **state) {
  (void)state;
  char spec[600];
  memset(spec, 'a', 500);
  strcpy(spec + 500, "=loud");
  trace_env_filter *f;
  trace_filter_error err;
  assert_int_equal(trace_env_filter_parse(spec, &f, &err), TRACE_EPARSE);
  assert_int_equal(err.offset, 501);
  assert_true(strlen(err.directive) < sizeof err.directive);
  assert_int_equal(strncmp(err.directive, "aaaa", 4), 0);
  assert_string_equal(err.message, "unknown level 'loud' at 501");
  memset(spec, 'v', 500);
  memcpy(spec, "a=", 2);
  spec[500] = '\0';
  assert_int_equal(trace_env_filter_parse(spec, &f, &err), TRACE_EPARSE);
  assert_string_equal(err.message,
                      "unknown level 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...' at 2");
}

/* ---------------------------------------------------------------------------------------- */
/* Lossy parsing. */

typedef struct lossy_run {
  const char *spec;
  char normal[256];
} lossy_run;

static void run_lossy(void *arg) {
  lossy_run *run = arg;
  trace_env_filter *f = trace_env_filter_parse_lossy(run->spec);
  assert_non_null(f);
  trace_env_filter_spec(f, run->normal, sizeof run->normal);
  trace_env_filter_release(f);
}

static void lossy_reports_and_skips_each_bad_directive(void **state) {
  (void)state;
  char err[2048];
  lossy_run run = {"warn,app=verbose,,[{a=(}],db=off,x\x07y,[req{a=1,b=2}]=debug", ""};
  errno = 1234;
  capture_stderr(run_lossy, &run, err, sizeof err);
  assert_int_equal(errno, 1234);
  assert_string_equal(run.normal, "warn,db=off,[req{a=1,b=2}]=debug");
  assert_text_equal(err, "trace: ignoring 'app=verbose': unknown level 'verbose' at 9\n"
                         "trace: ignoring '': empty directive at 17\n"
                         "trace: ignoring '[{a=(}]': bad regular expression: missing closing "
                         "parenthesis at 23\n"
                         "trace: ignoring 'x\\u{7}y': invalid character '\\u{7}' in target at 34\n");
  /* Nothing valid, nothing at all, or NULL: the ERROR level, as tracing. */
  const char *nothing[] = {"", "  ", "bogus level=x", "[", NULL};
  for (size_t i = 0; i < N_OF(nothing); i++) {
    run.spec = nothing[i];
    capture_stderr(run_lossy, &run, err, sizeof err);
    assert_string_equal(run.normal, "error");
  }
  /* A structural problem costs only its own directive. */
  run.spec = "a]b,info,[c},app=debug";
  capture_stderr(run_lossy, &run, err, sizeof err);
  assert_string_equal(run.normal, "info,app=debug");
  assert_text_equal(err, "trace: ignoring 'a]b': unexpected ']' at 1\n"
                         "trace: ignoring '[c}': unexpected '}' (the '[' at 9 is still open) at 11\n");
}

static void from_env_reads_the_variable(void **state) {
  (void)state;
  char spec[64];
  unsetenv("TRACE_FILTER");
  trace_env_filter *f = trace_env_filter_from_env(NULL, NULL);
  trace_env_filter_spec(f, spec, sizeof spec);
  assert_string_equal(spec, "info");
  trace_env_filter_release(f);
  f = trace_env_filter_from_env(NULL, "warn,db=off");
  trace_env_filter_spec(f, spec, sizeof spec);
  assert_string_equal(spec, "warn,db=off");
  trace_env_filter_release(f);
  setenv("TRACE_FILTER", "", 1);
  f = trace_env_filter_from_env(NULL, "debug");
  trace_env_filter_spec(f, spec, sizeof spec);
  assert_string_equal(spec, "debug");
  trace_env_filter_release(f);
  setenv("TRACE_FILTER", "app=debug,[job]", 1);
  f = trace_env_filter_from_env(NULL, "debug");
  trace_env_filter_spec(f, spec, sizeof spec);
  assert_string_equal(spec, "app=debug,[job]=trace");
  trace_env_filter_release(f);
  setenv("MY_FILTER", "2", 1);
  f = trace_env_filter_from_env("MY_FILTER", NULL);
  trace_env_filter_spec(f, spec, sizeof spec);
  assert_string_equal(spec, "warn");
  trace_env_filter_release(f);
  unsetenv("TRACE_FILTER");
  unsetenv("MY_FILTER");
}

/* ---------------------------------------------------------------------------------------- */
/* Limits. */

static int parse_rc(const char *spec, trace_filter_error *err) {
  trace_env_filter *f = NULL;
  int rc = trace_env_filter_parse(spec, &f, err);
  trace_env_filter_release(f);
  return rc;
}

static void limits_bound_the_work(void **state) {
  (void)state;
  trace_filter_error err;
  /* 64 KiB of text. */
  char *big = malloc(70000);
  memset(big, 'a', 65536);
  memcpy(big + 65530, "=info", 6);
  assert_int_equal(strlen(big), 65535);
  assert_int_equal(parse_rc(big, &err), 0);
  memset(big, 'a', 65537);
  memcpy(big + 65532, "=info", 6);
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  assert_string_equal(err.message, "filter longer than 65536 bytes at 65536");
  /* 1024 directives. */
  size_t len = 0;
  for (int i = 0; i < 1025; i++)
    len += (size_t)sprintf(big + len, "%st%d=info", i ? "," : "", i);
  char *last = strrchr(big, ',');
  *last = '\0';
  assert_int_equal(parse_rc(big, &err), 0);
  *last = ',';
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  char want[64];
  snprintf(want, sizeof want, "more than 1024 directives at %zu", (size_t)(last - big) + 1);
  assert_string_equal(err.message, want);
  /* 32 fields. */
  len = (size_t)sprintf(big, "[{");
  for (int i = 0; i < 33; i++)
    len += (size_t)sprintf(big + len, "%sf%d=%d", i ? "," : "", i, i);
  strcpy(big + len, "}]");
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  assert_string_equal(err.message, "more than 32 fields at 206");
  strcpy(strstr(big, ",f32=32"), "}]");
  assert_int_equal(parse_rc(big, &err), 0);
  /* Regular expressions of 1024 bytes, nested 64 deep. */
  strcpy(big, "[{a=");
  memset(big + 4, 'x', 1025);
  strcpy(big + 4 + 1025, "}]");
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  assert_string_equal(err.message, "regular expression longer than 1024 bytes at 4");
  strcpy(big + 4 + 1024, "}]");
  assert_int_equal(parse_rc(big, &err), 0);
  len = (size_t)sprintf(big, "[{a=");
  for (int i = 0; i < 65; i++)
    big[len++] = '(';
  for (int i = 0; i < 65; i++)
    big[len++] = ')';
  strcpy(big + len, "}]");
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  assert_string_equal(err.message, "bad regular expression: parentheses are too deeply nested at 69");
  memmove(big + 4 + 64, big + 4 + 65, strlen(big + 4 + 65) + 1); /* 64 deep */
  strcpy(big + 4 + 64 + 64, "}]");
  assert_int_equal(parse_rc(big, &err), 0);
  /* Nesting. */
  memset(big, '[', 65);
  memset(big + 65, ']', 65);
  big[130] = '\0';
  assert_int_equal(parse_rc(big, &err), TRACE_EPARSE);
  assert_string_equal(err.message, "nesting deeper than 64 at 64");
  /* Compiled size: PCRE2 refuses what would not fit its compiled form, quickly. */
  assert_int_equal(parse_rc("[{a=((((x{1000}){1000}){1000}){1000})}]", &err), TRACE_EPARSE);
  assert_string_equal(err.message, "bad regular expression: regular expression is too large at 37");
  /* What glibc's regcomp could not compile in reasonable time or memory is nothing to PCRE2. */
  assert_int_equal(parse_rc("[{a=(.{0,100}){0,100}}]", &err), 0);
  assert_int_equal(parse_rc("[{a=((a*)*)*x(a|)+}]", &err), 0);
  free(big);
}

/* ---------------------------------------------------------------------------------------- */
/* Hostile input. */

static void silence(void *arg) {
  const char *spec = arg;
  trace_env_filter *f = trace_env_filter_parse_lossy(spec);
  assert_non_null(f);
  trace_env_filter_release(f);
}

/* Strict: 0 and a fixed-point normal form, or EPARSE with an offset inside the input. */
static void check_any(const char *spec, size_t len) {
  trace_env_filter *f = NULL;
  trace_filter_error err;
  int rc = trace_env_filter_parse(spec, &f, &err);
  if (rc == 0) {
    char a[4096], b[4096];
    size_t n = trace_env_filter_spec(f, a, sizeof a);
    trace_env_filter_release(f);
    if (n < sizeof a) {
      parse_to_text(a, b, sizeof b);
      if (strcmp(a, b) != 0)
        fail_msg("'%s' normalises to '%s', which normalises to '%s'", spec, a, b);
    }
  } else {
    assert_int_equal(rc, TRACE_EPARSE);
    assert_true(err.offset <= len);
    assert_true(strlen(err.message) > 0);
  }
}

static void hostile_input_gives_an_answer(void **state) {
  (void)state;
  static const char *const nasty[] = {
      "[", "]", "{", "}", "\"", "\\", "=", ",", "[[[[", "]]]]", "{{{{", "}}}}", "[{", "[{]",
      "[{a=\"}]", "[{a=\\\"}]", "[{a=\\}]", "\\\\\\", "a=\"b", "[\"]\"]", "[{\"a\"=1}]",
      "[{a=\"\\", "[{a=[}]", "[{a=(((((((((((((((((((((((((((((((((((}]", "[{a=x**********}]",
      "[{a=((a*)*)*b}]", "[{a=(.*a){20}}]", "[{a=[[:nope:]]}]", "[{a=[z-a]}]", ",,,,", "= = =",
      "[ {a=1} ]", "[{a=1}]=", "[{a=1}]==", "info=", "trace=trace", "5=5", "\x7f", "\xff\xfe",
      "[\xc3\x28]=info", "app=\xe2\x82", "[{\xf0\x9f\x92\xa9=1}]",
  };
  for (size_t i = 0; i < N_OF(nasty); i++) {
    check_any(nasty[i], strlen(nasty[i]));
    char ignored[4096];
    capture_stderr(silence, (void *)(uintptr_t)nasty[i], ignored, sizeof ignored);
  }
  /* Random strings over the grammar's characters and some bytes around them. */
  static const char alphabet[] = "[]{}=,\"\\ ab.:/_-019eE+*()|?^$x\t\x01\x80\xff";
  unsigned seed = 12345;
  char spec[64];
  int devnull = open("/dev/null", O_WRONLY);
  int saved = dup(2);
  dup2(devnull, 2);
  for (int round = 0; round < 50000; round++) {
    size_t n = 1 + (size_t)(rand_r(&seed) % 40);
    for (size_t i = 0; i < n; i++)
      spec[i] = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)];
    spec[n] = '\0';
    check_any(spec, n);
    trace_env_filter_release(trace_env_filter_parse_lossy(spec));
  }
  dup2(saved, 2);
  close(saved);
  close(devnull);
}

/* ---------------------------------------------------------------------------------------- */
/* Regular expressions (PCRE2, loaded at run time). */

typedef struct regex_case {
  const char *pattern;
  const char *value;
  int expect;
} regex_case;

/* Rust's regex syntax, and the whole value must match. */
static const regex_case regex_cases[] = {
    {"\\d+", "123", TRACE__REGEX_YES},
    {"\\d+", "12a", TRACE__REGEX_NO},
    {"\\d", "\xd9\xa3", TRACE__REGEX_YES},            /* Unicode digits, as Rust's \d */
    {"\\w+", "h\xc3\xa9llo_1", TRACE__REGEX_YES},    /* Unicode word characters */
    {"\\s", "\t", TRACE__REGEX_YES},
    {"(?i)get", "GET", TRACE__REGEX_YES},
    {"(?i)\xc3\xa9t\xc3\xa9", "\xc3\x89T\xc3\x89", TRACE__REGEX_YES}, /* Unicode case folding */
    {"a.*?b", "axxb", TRACE__REGEX_YES},                /* lazy: still the whole value */
    {"[[:alpha:]]+", "abc", TRACE__REGEX_YES},
    {"[^/]+", "a/b", TRACE__REGEX_NO},
    {"\\p{Greek}+", "\xce\xb1\xce\xb2", TRACE__REGEX_YES},
    {"(?P<word>x)y", "xy", TRACE__REGEX_YES},
    {"/", "/z", TRACE__REGEX_NO},                       /* a prefix is not the whole value */
    {"z", "/z", TRACE__REGEX_NO},                       /* nor a suffix */
    {"a|ab", "ab", TRACE__REGEX_YES},                   /* the whole value, whichever branch */
    {".", "\n", TRACE__REGEX_NO},                       /* '.' is not a newline, as in Rust */
    {"x$", "x\n", TRACE__REGEX_NO},                     /* '$' is the very end, as in Rust */
    {"a.b", "a\xff" "b", TRACE__REGEX_NO},                 /* invalid UTF-8 matches no character */
    {"a\\xffb", "a\xc3\xbf" "b", TRACE__REGEX_YES},     /* \xff is U+00FF */
    {"", "", TRACE__REGEX_YES},
};

static void regular_expressions_follow_rust_syntax(void **state) {
  (void)state;
  for (size_t i = 0; i < N_OF(regex_cases); i++) {
    const regex_case *c = &regex_cases[i];
    trace__regex *re = NULL;
    char why[200];
    size_t at;
    if (trace__regex_compile(c->pattern, strlen(c->pattern), &re, why, sizeof why, &at) != 0)
      fail_msg("'%s': %s", c->pattern, why);
    int got = trace__regex_match(re, c->value, strlen(c->value));
    if (got != c->expect)
      fail_msg("'%s' on '%s': %d, want %d", c->pattern, c->value, got, c->expect);
    trace__regex_free(re);
  }
  /* Values are not NUL-terminated: only len bytes count. */
  trace__regex *re = NULL;
  char why[200];
  size_t at;
  assert_int_equal(trace__regex_compile("ab", 2, &re, why, sizeof why, &at), 0);
  assert_int_equal(trace__regex_match(re, "abc", 2), TRACE__REGEX_YES);
  assert_int_equal(trace__regex_match(re, "abc", 3), TRACE__REGEX_NO);
  trace__regex_free(re);
}

/* ReDoS: patterns that backtrack exponentially on a value that almost matches give up at the
 * match limit (match.c treats that as no match) instead of running for minutes. */
static void pathological_regular_expressions_give_up(void **state) {
  (void)state;
  static const char *const evil[] = {"(a|aa)+", "(a+)+", "(\\w+\\s?)+", "(.*a){12}", "((a*)*)*"};
  char value[101];
  memset(value, 'a', 99);
  strcpy(value + 99, "!");
  for (size_t i = 0; i < N_OF(evil); i++) {
    trace__regex *re = NULL;
    char why[200];
    size_t at;
    assert_int_equal(trace__regex_compile(evil[i], strlen(evil[i]), &re, why, sizeof why, &at), 0);
    if (trace__regex_match(re, value, strlen(value)) != TRACE__REGEX_GAVE_UP)
      fail_msg("'%s' did not reach the match limit", evil[i]);
    /* The same expression still answers at once where it does not backtrack. */
    assert_int_equal(trace__regex_match(re, value, 99), TRACE__REGEX_YES);
    trace__regex_free(re);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Output buffers and memory. */

static void spec_is_snprintf_like(void **state) {
  (void)state;
  trace_env_filter *f = NULL;
  assert_int_equal(trace_env_filter_parse("warn,app=debug", &f, NULL), 0);
  assert_int_equal(trace_env_filter_spec(f, NULL, 0), strlen("warn,app=debug"));
  char small[6] = "xxxxx";
  assert_int_equal(trace_env_filter_spec(f, small, 0), 14);
  assert_string_equal(small, "xxxxx");
  assert_int_equal(trace_env_filter_spec(f, small, sizeof small), 14);
  assert_string_equal(small, "warn,");
  assert_int_equal(trace_env_filter_spec(f, small, 1), 14);
  assert_string_equal(small, "");
  trace_env_filter_release(f);
}

static void out_of_memory_while_parsing(void **state) {
  (void)state;
  const char *spec = "warn,app::net=debug,[req{a=1,b=\"x\",c=r.*,d}]=trace,db=off,[conn]=info";
  for (long budget = 0; budget < 60; budget++) {
    trace_testing_fail_allocations_after(budget);
    trace_env_filter *f = NULL;
    trace_filter_error err;
    int rc = trace_env_filter_parse(spec, &f, &err);
    if (rc != 0 && rc != TRACE_ENOMEM)
      fail_msg("budget %ld: rc %d: %s", budget, rc, err.message);
    if (rc == 0) {
      int again = trace_env_filter_reload(f, spec, NULL);
      assert_true(again == 0 || again == TRACE_ENOMEM);
    }
    trace_env_filter_release(f);
    trace_testing_fail_allocations_after(-1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_filters_normalise),
      cmocka_unit_test(errors_name_the_directive_offset_and_reason),
      cmocka_unit_test(long_directives_are_cut_in_messages),
      cmocka_unit_test(lossy_reports_and_skips_each_bad_directive),
      cmocka_unit_test(from_env_reads_the_variable),
      cmocka_unit_test(limits_bound_the_work),
      cmocka_unit_test(hostile_input_gives_an_answer),
      cmocka_unit_test(regular_expressions_follow_rust_syntax),
      cmocka_unit_test(pathological_regular_expressions_give_up),
      cmocka_unit_test(spec_is_snprintf_like),
      cmocka_unit_test(out_of_memory_while_parsing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
