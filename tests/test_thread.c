/* Per-thread state of libtrace (src/common/thread.c): quiescence and per-instance locals. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "common/thread.h"
#include "helpers.h"

static int key;
static uint32_t inside, synchronizing; /* atomic */

/* Inside libtrace (as in a dispatch), sets a local only once another thread is waiting in
 * trace__synchronize for this one to leave. */
static void *set_local_while_waited_for(void *arg) {
  trace__thread *t = trace__thread_enter();
  __atomic_store_n(&inside, 1, __ATOMIC_SEQ_CST);
  while (!__atomic_load_n(&synchronizing, __ATOMIC_SEQ_CST))
    sched_yield();
  struct timespec pause = {0, 50 * 1000000};
  nanosleep(&pause, NULL); /* the synchronizer is waiting by now */
  bool ok = trace__local_set(key, arg);
  bool seen = trace__local_get(key) == arg;
  trace__thread_leave(t);
  return ok && seen ? arg : NULL;
}

/* The public identity of threads: the main thread is 1 and "main"; others get the next numbers
 * and their OS name until they set one. */
static void *identity_of_a_thread(void *arg) {
  char *out = arg;
  uint32_t id = trace_thread_id();
  snprintf(out, 64, "%s/%d", trace_thread_name(), id > 1 && id == trace_thread_id());
  trace_thread_set_name("worker-7");
  strncat(out, "/", 63 - strlen(out));
  strncat(out, trace_thread_name(), 63 - strlen(out));
  return NULL;
}

static void thread_identity(void **state) {
  (void)state;
  assert_int_equal(trace_thread_id(), 1);
  assert_string_equal(trace_thread_name(), "main");
  char seen[64] = "";
  pthread_t t;
  pthread_create(&t, NULL, identity_of_a_thread, seen);
  pthread_setname_np(t, "osname");
  pthread_join(t, NULL);
  /* The OS name may be read before or after pthread_setname_np: either is right. */
  assert_true(strstr(seen, "/1/worker-7") != NULL);
}

static int freed;
static void count_free(void *v) {
  (void)v;
  freed++;
}

/* Regression: trace__local_set took the lock that trace__synchronize holds while it waits, so a
 * thread creating its per-thread state inside a dispatch (a registry's on its first event, the
 * env-filter's on its first enter) deadlocked against a concurrent reload or shutdown. */
static void local_set_while_synchronizing(void **state) {
  (void)state;
  key = trace__local_key_create(count_free);
  assert_true(key >= 0);
  static int value;
  pthread_t t;
  pthread_create(&t, NULL, set_local_while_waited_for, &value);
  while (!__atomic_load_n(&inside, __ATOMIC_SEQ_CST))
    sched_yield();
  __atomic_store_n(&synchronizing, 1, __ATOMIC_SEQ_CST);
  assert_true(trace__synchronize());
  void *result;
  pthread_join(t, &result);
  assert_ptr_equal(result, &value);
  assert_int_equal(freed, 1); /* the thread's value was destroyed when it exited */
  trace__local_key_delete(key);
}

static void synchronize_refuses_inside_a_dispatch(void **state) {
  (void)state;
  trace__thread *t = trace__thread_enter();
  assert_non_null(t);
  assert_false(trace__synchronize());
  trace__thread_leave(t);
  assert_true(trace__synchronize());
}

/* Deleting a key destroys every live thread's value for it, once. */
static void key_delete_destroys_values(void **state) {
  (void)state;
  freed = 0;
  key = trace__local_key_create(count_free);
  static int value;
  assert_true(trace__local_set(key, &value));
  assert_ptr_equal(trace__local_get(key), &value);
  trace__local_key_delete(key);
  assert_int_equal(freed, 1);
  assert_null(trace__local_get(key));
}

/* RCU as the env-filter's reload does it: readers load a pointer and read through it inside
 * libtrace; the writer swaps it, synchronizes and frees the old object. Regression (TSan): a
 * reader that left and re-entered at once was seen to leave through its sequence number, which
 * was stored relaxed, so nothing ordered its reads before the free. */
static int *published; /* atomic */
static uint32_t readers_stop;

static void *read_published(void *arg) {
  long sum = 0;
  while (!__atomic_load_n(&readers_stop, __ATOMIC_ACQUIRE)) {
    trace__thread *t = trace__thread_enter();
    int *p = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
    sum += p[0] + p[1];
    trace__thread_leave(t);
  }
  *(long *)arg = sum;
  return NULL;
}

static void synchronize_orders_frees_after_reads(void **state) {
  (void)state;
  published = calloc(2, sizeof(int));
  readers_stop = 0;
  pthread_t t[3];
  long sums[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, read_published, &sums[i]);
  for (int round = 0; round < 2000; round++) {
    int *fresh = calloc(2, sizeof(int));
    fresh[0] = fresh[1] = round;
    int *old = __atomic_exchange_n(&published, fresh, __ATOMIC_ACQ_REL);
    assert_true(trace__synchronize());
    old[0] = old[1] = -1; /* no reader may see this */
    free(old);
  }
  __atomic_store_n(&readers_stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 3; i++) {
    pthread_join(t[i], NULL);
    assert_true(sums[i] >= 0);
  }
  free(published);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(thread_identity),
      cmocka_unit_test(local_set_while_synchronizing),
      cmocka_unit_test(synchronize_refuses_inside_a_dispatch),
      cmocka_unit_test(key_delete_destroys_values),
      cmocka_unit_test(synchronize_orders_frees_after_reads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
