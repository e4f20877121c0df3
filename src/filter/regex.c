/* PCRE2 for the env-filter's regular expressions, loaded at run time.
 *
 * Why dlopen: libtrace itself needs only libc and pthreads, and that must stay true for the
 * shared library, for the static one (no -lpcre2-8 to add to every link line, no Requires.private
 * in trace.pc, no find_dependency in traceConfig.cmake) and for every program that never writes
 * a regular expression in a filter. Linking PCRE2 "when found" would have made the library's
 * dependencies depend on the build machine, and a POSIX fallback would have given the same filter
 * text two meanings. Instead the build needs pcre2.h (Debian: libpcre2-dev) for the types, and
 * libpcre2-8.so.0 (Debian: libpcre2-8-0, which grep depends on) is opened the first time a filter
 * contains a regular expression, and kept for the life of the process. Without it such a filter
 * is refused with a message that says why.
 *
 * Safety: patterns are limited in length and nesting; matching runs the JIT when PCRE2 has it
 * (the interpreter otherwise) under a match limit, so a pathological pattern on a long value
 * gives up after TRACE__REGEX_MATCH_LIMIT steps instead of running for minutes. The contexts are
 * built once and only read afterwards; the match data is per thread (a libtrace thread-local
 * slot), so matching takes no lock and, once a thread has matched once, allocates nothing. Memory
 * goes through libtrace's allocator (trace__malloc), so out-of-memory tests reach PCRE2 too. */
#include "regex.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/thread.h"
#include "trace.h" /* TRACE_EPARSE, TRACE_ENOMEM */

#ifdef TRACE_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <dlfcn.h>
#include <pcre2.h>

/* The PCRE2 functions used, typed from pcre2.h. */
typedef struct pcre2_api {
  __typeof__(pcre2_config) *config;
  __typeof__(pcre2_general_context_create) *general_context_create;
  __typeof__(pcre2_compile_context_create) *compile_context_create;
  __typeof__(pcre2_match_context_create) *match_context_create;
  __typeof__(pcre2_set_parens_nest_limit) *set_parens_nest_limit;
  __typeof__(pcre2_set_match_limit) *set_match_limit;
  __typeof__(pcre2_set_depth_limit) *set_depth_limit;
  __typeof__(pcre2_set_heap_limit) *set_heap_limit;
  __typeof__(pcre2_compile) *compile;
  __typeof__(pcre2_code_free) *code_free;
  __typeof__(pcre2_jit_compile) *jit_compile;
  __typeof__(pcre2_get_error_message) *get_error_message;
  __typeof__(pcre2_match_data_create) *match_data_create;
  __typeof__(pcre2_match_data_free) *match_data_free;
  __typeof__(pcre2_match) *match;
} pcre2_api;

/* Names in the order of the members above (the 8-bit library's exported names). */
static const char *const api_names[] = {
    "pcre2_config_8",
    "pcre2_general_context_create_8",
    "pcre2_compile_context_create_8",
    "pcre2_match_context_create_8",
    "pcre2_set_parens_nest_limit_8",
    "pcre2_set_match_limit_8",
    "pcre2_set_depth_limit_8",
    "pcre2_set_heap_limit_8",
    "pcre2_compile_8",
    "pcre2_code_free_8",
    "pcre2_jit_compile_8",
    "pcre2_get_error_message_8",
    "pcre2_match_data_create_8",
    "pcre2_match_data_free_8",
    "pcre2_match_8",
};
_Static_assert(sizeof(pcre2_api) == sizeof api_names / sizeof api_names[0] * sizeof(void (*)(void)),
               "one name per PCRE2 function");

struct trace__regex {
  pcre2_code *code;
};

static pcre2_api api;
static bool jit;
static int match_data_key = -1;   /* the thread-local slot of each thread's match data */
static char load_error[160] = "not loaded"; /* why PCRE2 is not available ("" once loaded) */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* The contexts, made by the first compile that finds them missing (under setup_lock; a failed
 * allocation is TRACE_ENOMEM for that compile and tried again by the next one), then only read.
 * A compiled expression exists only after they do, and reaches a matching thread through the
 * directive set's publication, so readers need no lock. */
static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_general_context *general;
static pcre2_compile_context *compiling;
static pcre2_match_context *matching;

static void *pcre2_alloc(size_t size, void *data) {
  (void)data;
  return trace__malloc(size);
}

static void pcre2_release(void *p, void *data) {
  (void)data;
  trace__free(p);
}

static void match_data_dtor(void *md) { api.match_data_free(md); }

static void load(void) {
  void *lib = dlopen("libpcre2-8.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    snprintf(load_error, sizeof load_error, "regular expressions need PCRE2: %s",
             e ? e : "libpcre2-8.so.0 not found");
    return;
  }
  for (size_t i = 0; i < sizeof api_names / sizeof api_names[0]; i++) {
    void *sym = dlsym(lib, api_names[i]);
    if (!sym) {
      snprintf(load_error, sizeof load_error, "regular expressions need PCRE2: %s missing",
               api_names[i]);
      return; /* the library stays loaded: dlclose would not be worth the risk */
    }
    /* POSIX: what dlsym returns for a function is its address; the members are all function
     * pointers, of one size (checked above). */
    memcpy((char *)&api + i * sizeof(void (*)(void)), &sym, sizeof sym);
  }
  match_data_key = trace__local_key_create(match_data_dtor);
  if (match_data_key < 0) {
    snprintf(load_error, sizeof load_error,
             "regular expressions: no thread-local slot left for PCRE2's match data");
    return;
  }
  uint32_t has_jit = 0;
  jit = api.config(PCRE2_CONFIG_JIT, &has_jit) >= 0 && has_jit;
  load_error[0] = '\0';
}

/* Makes the contexts if they are missing: false when out of memory. */
static bool contexts_ready(void) {
  pthread_mutex_lock(&setup_lock);
  if (!general)
    general = api.general_context_create(pcre2_alloc, pcre2_release, NULL);
  if (general && !compiling && (compiling = api.compile_context_create(general)) != NULL)
    api.set_parens_nest_limit(compiling, 64);
  if (general && !matching && (matching = api.match_context_create(general)) != NULL) {
    /* Bounds for the interpreter (the JIT honours the match limit and has its own stack). */
    api.set_match_limit(matching, TRACE__REGEX_MATCH_LIMIT);
    api.set_depth_limit(matching, TRACE__REGEX_MATCH_LIMIT);
    api.set_heap_limit(matching, 1024); /* KiB of backtracking frames */
  }
  bool ready = general && compiling && matching;
  pthread_mutex_unlock(&setup_lock);
  return ready;
}

int trace__regex_compile(const char *pattern, size_t len, trace__regex **out, char *why,
                         size_t why_cap, size_t *at) {
  *out = NULL;
  *at = 0;
  if (len > TRACE__REGEX_MAX_LEN) {
    snprintf(why, why_cap, "regular expression longer than %d bytes", TRACE__REGEX_MAX_LEN);
    return TRACE_EPARSE;
  }
  pthread_once(&load_once, load);
  if (load_error[0]) {
    snprintf(why, why_cap, "%s", load_error);
    return TRACE_EPARSE;
  }
  if (!contexts_ready())
    return TRACE_ENOMEM;
  trace__regex *re = trace__malloc(sizeof *re);
  if (!re)
    return TRACE_ENOMEM;
  /* Rust's regex semantics where PCRE2 can have them: UTF-8 with Unicode classes (\d, \w, \s
   * and case folding), '$' only at the very end; the whole value must match (ANCHORED and
   * ENDANCHORED, not a wrapping ^(...)$ that a ')' in the pattern could escape); invalid UTF-8
   * in a value is matched safely (it never matches a character); \C, which could split a
   * character, is refused. */
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_INVALID_UTF |
                     PCRE2_NEVER_BACKSLASH_C | PCRE2_ANCHORED | PCRE2_ENDANCHORED;
  int code;
  PCRE2_SIZE offset;
  re->code = api.compile((PCRE2_SPTR)pattern, len, options, &code, &offset, compiling);
  if (!re->code) {
    trace__free(re);
    if (code == PCRE2_ERROR_NOMEMORY || code == PCRE2_ERROR_HEAP_FAILED)
      return TRACE_ENOMEM;
    PCRE2_UCHAR text[120];
    if (api.get_error_message(code, text, sizeof text) < 0)
      snprintf((char *)text, sizeof text, "error %d", code);
    snprintf(why, why_cap, "bad regular expression: %s", (const char *)text);
    *at = offset <= len ? offset : len;
    return TRACE_EPARSE;
  }
  /* Without the JIT (not built in, or no executable memory) the interpreter runs instead. */
  if (jit)
    (void)api.jit_compile(re->code, PCRE2_JIT_COMPLETE);
  *out = re;
  return 0;
}

void trace__regex_free(trace__regex *re) {
  if (!re)
    return;
  api.code_free(re->code);
  trace__free(re);
}

int trace__regex_match(const trace__regex *re, const char *s, size_t len) {
  /* One match data per thread, kept in its slot: the ovector has one pair, all a yes/no needs,
   * and the interpreter keeps its backtracking frames there between matches. */
  pcre2_match_data *md = trace__local_get(match_data_key);
  bool own = false;
  if (!md) {
    md = api.match_data_create(1, general);
    if (!md)
      return TRACE__REGEX_GAVE_UP;
    own = !trace__local_set(match_data_key, md); /* a thread that cannot keep it frees it */
  }
  int rc = api.match(re->code, (PCRE2_SPTR)(s ? s : ""), s ? len : 0, 0, 0, md, matching);
  if (own)
    api.match_data_free(md);
  return rc >= 0 ? TRACE__REGEX_YES : rc == PCRE2_ERROR_NOMATCH ? TRACE__REGEX_NO : TRACE__REGEX_GAVE_UP;
}

#else /* no pcre2.h when libtrace was built */

struct trace__regex {
  char unused;
};

int trace__regex_compile(const char *pattern, size_t len, trace__regex **out, char *why,
                         size_t why_cap, size_t *at) {
  (void)pattern;
  (void)len;
  *out = NULL;
  *at = 0;
  snprintf(why, why_cap, "regular expressions need PCRE2, and this libtrace was built without "
                         "pcre2.h (quote the value to match it exactly)");
  return TRACE_EPARSE;
}

void trace__regex_free(trace__regex *re) { (void)re; }

int trace__regex_match(const trace__regex *re, const char *s, size_t len) {
  (void)re, (void)s, (void)len;
  return TRACE__REGEX_NO;
}

#endif
