/* Small compiler helpers shared by every module of libtrace. */
#ifndef TRACE_COMMON_COMPILER_H
#define TRACE_COMMON_COMPILER_H

#define TRACE__LIKELY(x) __builtin_expect(!!(x), 1)
#define TRACE__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TRACE__COLD __attribute__((cold, noinline))
#define TRACE__NOINLINE __attribute__((noinline))
#define TRACE__INLINE inline __attribute__((always_inline))
#define TRACE__UNUSED __attribute__((unused))
#define TRACE__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TRACE__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TRACE__MIN(a, b) ((a) < (b) ? (a) : (b))
#define TRACE__MAX(a, b) ((a) > (b) ? (a) : (b))
#define TRACE__CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Relaxed/acquire/release atomics on plain variables (the public headers must stay C++ friendly,
 * so shared fields are plain integers accessed through these builtins). */
#define TRACE__LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define TRACE__LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define TRACE__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define TRACE__STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A full fence. TSan does not model standalone fences (GCC refuses them under -fsanitize=thread),
 * so there a sequentially consistent read-modify-write stands in, which it does model. */
#if defined(__SANITIZE_THREAD__)
#define TRACE__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRACE__TSAN 1
#endif
#endif
#ifdef TRACE__TSAN
extern int trace__fence_word;
#define TRACE__FULL_FENCE() ((void)__atomic_fetch_add(&trace__fence_word, 0, __ATOMIC_SEQ_CST))
/* Only sequence-lock readers use these, and their racy copies are invisible to TSan anyway. */
#define TRACE__ACQUIRE_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define TRACE__RELEASE_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#else
#define TRACE__FULL_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define TRACE__ACQUIRE_FENCE() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define TRACE__RELEASE_FENCE() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#endif
