/* The formatted fields kept in each span, behind a sequence lock (see fmt_ext in internal.h). */
#include <string.h>

#include "../common/alloc.h"
#include "../common/spin.h"
#include "internal.h"

/* The reader's copy may race with a writer by design: the sequence check throws a torn copy
 * away. ThreadSanitizer cannot know that, so in TSan builds the copy is uninstrumented and made
 * with volatile loads (a plain loop could be turned into an intercepted memcpy). */
#ifdef TRACE__TSAN
__attribute__((no_sanitize("thread"))) static void racy_copy(char *dst, const char *src, size_t n) {
  const volatile char *s = src;
  for (size_t i = 0; i < n; i++)
    dst[i] = s[i];
}
#else
static inline void racy_copy(char *dst, const char *src, size_t n) { trace__small_copy(dst, src, n); }
#endif

static void lock(fmt_ext *e) {
  trace__spin_lock(&e->lock);
  /* Odd already only if the writer before us was lost to a fork() mid-write: stay odd. */
  uint32_t s = TRACE__LOAD(&e->seq);
  if (!(s & 1))
    __atomic_store_n(&e->seq, s + 1, __ATOMIC_RELAXED);
  /* Writes below must not become visible before the odd sequence number. */
  TRACE__RELEASE_FENCE();
}

static void unlock(fmt_ext *e) {
  __atomic_add_fetch(&e->seq, 1, __ATOMIC_RELEASE);
  trace__spin_unlock(&e->lock);
}

/* Stores text as the extension's content; under the lock. */
static void store(fmt_ext *e, const char *text, size_t len) {
  char *dst = e->heap ? e->heap : e->inline_text;
  size_t cap = e->heap ? e->heap_cap : FMT_EXT_INLINE;
  if (len > cap) {
    size_t want = cap * 2;
    while (want < len)
      want *= 2;
    char *fresh = want <= UINT32_MAX ? trace__malloc(want) : NULL;
    if (fresh) {
      /* The new buffer is in place before the old one is retired: a fork() between the two
       * (spin.h) must not leave one buffer both current and retired (freed twice). */
      char *old = e->heap;
      TRACE__STORE(&e->heap, fresh);
      e->heap_cap = (uint32_t)want;
      if (old) {
        /* Readers may still be copying from the old buffer: keep it until the span closes. */
        fmt_retired *r = (fmt_retired *)(void *)old;
        r->next = e->retired;
        e->retired = r;
      }
      dst = fresh;
    } else {
      len = cap; /* out of memory: keep what fits, and say so */
      TRACE__STORE(&e->cut, 1);
    }
  }
  memcpy(dst, text, len);
  TRACE__STORE(&e->len, (uint32_t)len);
}

/* Formats the span's current values into the extension, through the caller's scratch buffer,
 * unless another thread just did. */
static void fill(fmt_layer *l, fmt_ext *e, const trace_span_ref *s, trace__buf *scratch) {
  lock(e);
  if (!TRACE__LOAD(&e->ready)) {
    scratch->len = 0;
    scratch->truncated = false;
    fmt_values_arg arg = {l, scratch};
    trace_span_ref_values(s, trace__fmt_format_values, &arg);
    /* A scratch buffer that could not grow (out of memory) cut the text: lines that show it end
     * with the cut marker until the span's next record formats it again. */
    TRACE__STORE(&e->cut, scratch->truncated ? 1 : 0);
    store(e, scratch->data ? scratch->data : "", scratch->len);
    TRACE__STORE(&e->ready, 1);
  }
  unlock(e);
}

uint32_t trace__fmt_ext_len(fmt_layer *l, fmt_ext *e, const trace_span_ref *s, trace__buf *scratch) {
  if (TRACE__UNLIKELY(!TRACE__LOAD_ACQ(&e->ready)))
    fill(l, e, s, scratch);
  return TRACE__LOAD(&e->len);
}

void trace__fmt_ext_copy(trace__buf *b, fmt_layer *l, fmt_ext *e, const trace_span_ref *s,
                  trace__buf *scratch) {
  for (;;) {
    uint32_t s1 = TRACE__LOAD_ACQ(&e->seq);
    if (TRACE__UNLIKELY(s1 & 1)) {
      if (TRACE__UNLIKELY(trace__spin_orphaned(&e->lock))) {
        lock(e); /* its writer is gone (fork): take over, and have the text made again */
        TRACE__STORE(&e->ready, 0);
        unlock(e);
      }
      TRACE__SPIN_PAUSE();
      continue;
    }
    if (TRACE__UNLIKELY(!TRACE__LOAD(&e->ready))) {
      fill(l, e, s, scratch);
      continue;
    }
    uint32_t len = TRACE__LOAD(&e->len);
    uint32_t cut = TRACE__LOAD(&e->cut);
    const char *heap = TRACE__LOAD(&e->heap);
    const char *src = heap ? heap : e->inline_text;
    size_t mark = b->len;
    size_t room = trace__buf_room(b, len);
    racy_copy(b->data + b->len, src, room);
    b->len += room;
    /* The fence orders the copy before the second look at the sequence. */
    TRACE__ACQUIRE_FENCE();
    if (TRACE__LOAD(&e->seq) == s1) {
      if (room < len || cut)
        b->truncated = true;
      return;
    }
    b->len = mark; /* a record changed the fields meanwhile: copy again */
  }
}

void trace__fmt_ext_invalidate(fmt_ext *e) {
  lock(e);
  TRACE__STORE(&e->ready, 0);
  unlock(e);
}

void trace__fmt_ext_release(fmt_ext *e) {
  if (TRACE__LIKELY(!e->heap && !e->retired)) {
    e->len = 0;
    e->ready = 0;
    e->cut = 0;
    return;
  }
  /* Unpublish, then free: a fork() between the two must leave the child a buffer it never frees
   * (a leak in the child at worst), not one its trace_shutdown frees a second time. The fence
   * keeps the stores before the frees. */
  char *heap = e->heap;
  fmt_retired *retired = e->retired;
  TRACE__STORE(&e->heap, NULL);
  TRACE__STORE(&e->retired, NULL);
  e->heap_cap = 0;
  e->len = 0;
  e->ready = 0;
  e->cut = 0;
  TRACE__RELEASE_FENCE();
  while (retired) {
    fmt_retired *next = retired->next;
    trace__free(retired);
    retired = next;
  }
  trace__free(heap);
}
