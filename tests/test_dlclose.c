/* Modules unloaded while libtrace runs (docs/concepts.md, Guarantees, "Modules unloaded"): a
 * plugin built by this build (plugin/dl_plugin.c, no TRACE_TARGET) is dlopen'ed, logs and is
 * dlclose'd; libtrace must not keep anything of it that it reads later. This file has no
 * TRACE_TARGET either: its callsites derive their target, "test_dlclose", from __FILE__. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/registry.h"
#include "trace/writer.h"

typedef struct plugin {
  void *handle;
  void (*log)(int i);
  trace_span (*span)(void);
} plugin;

static plugin plugin_open(void) {
  plugin p;
  p.handle = dlopen(DL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!p.handle)
    fail_msg("dlopen %s: %s", DL_PLUGIN_PATH, dlerror());
  *(void **)&p.log = dlsym(p.handle, "dl_plugin_log");
  *(void **)&p.span = dlsym(p.handle, "dl_plugin_span");
  assert_non_null(p.log);
  assert_non_null(p.span);
  return p;
}

static void plugin_close(plugin *p) { assert_int_equal(dlclose(p->handle), 0); }

/* Callsites hit for the first time after the plugin is gone: registering one derives its
 * target, looking through the targets derived so far (the plugin's among them). */
static void first_hit_after_unload(void) { TRACE_INFO("after unload"); }
static void first_hit_after_reload(void) { TRACE_INFO("after reload"); }

static void count_one(void *ctx, const trace_metadata *meta, int interest) {
  (void)meta;
  (void)interest;
  ++*(size_t *)ctx;
}

static size_t callsites_now(void) {
  size_t n = 0;
  trace_callsites_foreach(count_one, &n);
  return n;
}

/* Regression (issue 12.1): the derived-target cache kept the plugin's __FILE__ pointer and the
 * next registration compared against it after dlclose: SIGSEGV. */
static void derived_targets_survive_dlclose(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
    plugin p = plugin_open();
    p.log(1);
    plugin_close(&p);
    first_hit_after_unload(); /* the old code's SIGSEGV */
    size_t before = callsites_now();
    p = plugin_open(); /* a fresh mapping, maybe at another address: derived again */
    p.log(2);
    assert_true(callsites_now() > before); /* the plugin's callsites are listed */
    plugin_close(&p);
    first_hit_after_reload();
    assert_int_equal(callsites_now(), before); /* and gone with it */
  }
  const char *log = trace_capture_log(cap);
  assert_text_contains(log, "event INFO dl_plugin: plugin says hello i=1\n");
  assert_text_contains(log, "event INFO test_dlclose: after unload\n");
  assert_text_contains(log, "event INFO dl_plugin: plugin says hello i=2\n");
  assert_text_contains(log, "event INFO test_dlclose: after reload\n");
  trace_capture_free(cap);
}

/* Regression (issue 12.2): the inventory copied the modules' section ranges, dropped its lock
 * and walked them while another thread dlclose'd a module: SIGSEGV in the unmapped section (and
 * callsites of a gone module registered, left in the list for the next walk). */
static volatile int loader_done;

/* Where the plugin is mapped: its PT_LOAD segments, from the first to the end of the last. */
typedef struct mapped {
  uintptr_t lo, hi;
} mapped;

static int find_plugin(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  mapped *m = arg;
  if (!info->dlpi_name || strcmp(info->dlpi_name, DL_PLUGIN_PATH) != 0)
    return 0;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t lo = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
    uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
    if (m->lo == 0 || lo < m->lo)
      m->lo = lo;
    if (hi > m->hi)
      m->hi = hi;
  }
  return 1;
}

/* Unloaded, the plugin's addresses would soon hold its next instance (mapped at the same place),
 * and a walk of the old instance would read the new one unharmed. Inaccessible pages at the old
 * place until the test ends make every read of an unloaded instance fault, as it would in a
 * program that maps something else there. */
enum { LOADS = 200 };
static mapped guards[LOADS];

static void *load_unload(void *arg) {
  (void)arg;
  for (int i = 0; i < LOADS; i++) {
    plugin p = plugin_open();
    mapped m = {0, 0};
    dl_iterate_phdr(find_plugin, &m);
    p.log(i);
    plugin_close(&p);
    if (m.hi > m.lo) {
      void *g = mmap((void *)m.lo, m.hi - m.lo, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (g == (void *)m.lo)
        guards[i] = m;
      else if (g != MAP_FAILED)
        munmap(g, m.hi - m.lo); /* an old kernel placed it elsewhere: no guard */
    }
  }
  __atomic_store_n(&loader_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void foreach_races_dlopen_dlclose(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_INFO);
  trace_dispatch *d = trace_capture_dispatch(cap);
  assert_int_equal(trace_set_global_default(d), 0);
  size_t before = callsites_now();
  __atomic_store_n(&loader_done, 0, __ATOMIC_RELAXED);
  pthread_t loader;
  assert_int_equal(pthread_create(&loader, NULL, load_unload, NULL), 0);
  size_t walks = 0, most = 0;
  while (!__atomic_load_n(&loader_done, __ATOMIC_ACQUIRE) || walks == 0) {
    size_t n = callsites_now();
    assert_true(n >= before);
    most = n > most ? n : most;
    walks++;
  }
  assert_int_equal(pthread_join(loader, NULL), 0);
  for (int i = 0; i < LOADS; i++)
    if (guards[i].hi > guards[i].lo)
      munmap((void *)guards[i].lo, guards[i].hi - guards[i].lo);
  /* Every callsite of every plugin instance has left the list: only ours remain. */
  assert_int_equal(callsites_now(), before);
  trace_shutdown();
  /* Each plugin instance logged once, from the loader thread. */
  const char *log = trace_capture_log(cap);
  assert_text_contains(log, "event INFO dl_plugin: plugin says hello i=0\n");
  assert_text_contains(log, "event INFO dl_plugin: plugin says hello i=199\n");
  (void)most;
  trace_capture_free(cap);
}

/* A layer's output into memory. */
typedef struct sink {
  char text[8192];
  size_t len;
} sink;

static int sink_write(void *arg, const char *line, size_t len) {
  sink *s = arg;
  if (len > sizeof s->text - 1 - s->len)
    len = sizeof s->text - 1 - s->len;
  memcpy(s->text + s->len, line, len);
  s->len += len;
  s->text[s->len] = '\0';
  return 0;
}

/* Regression (issue 12.3): a span of the plugin still open when it was dlclose'd: the next event
 * in it printed the span's name from the unmapped module (SIGSEGV). The registry now hears of
 * the unload, says so on stderr, and shows the span as "(unloaded module)". */
static void open_span_across_dlclose(void **state) {
  (void)state;
  static sink out;
  out.len = 0;
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.color = TRACE_FMT_COLOR_NEVER;
  o.span_events = TRACE_FMT_SPAN_CLOSE;
  o.writer = trace_writer_callback(sink_write, NULL, NULL, &out);
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL), 0);
  trace_dispatch *d = trace_registry_dispatch(r);
  assert_non_null(d);
  trace_default_guard g = trace_set_default(d);
  plugin p = plugin_open();
  trace_span s = p.span();
  trace_span_enter(&s);
  TRACE_INFO("before unload");
  char err[1024];
  stderr_capture c = stderr_capture_begin();
  plugin_close(&p);
  stderr_capture_end(&c, err, sizeof err);
  TRACE_INFO("after unload");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  assert_text_contains(err, "trace: a module was unloaded with 1 of its spans still open, "
                            "span \"plugin_work\" (");
  assert_text_contains(err, "dl_plugin.c:16); they show as \"(unloaded module)\" now: close a "
                            "module's spans before dlclose (docs/concepts.md, Guarantees)\n");
  assert_text_equal(out.text, " INFO plugin_work{job=7}: test_dlclose: before unload\n"
                              " INFO (unloaded module){job=7}: test_dlclose: after unload\n"
                              " INFO (unloaded module){job=7}: (unloaded module): close\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(derived_targets_survive_dlclose),
      cmocka_unit_test(open_span_across_dlclose),
      cmocka_unit_test(foreach_races_dlopen_dlclose),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
