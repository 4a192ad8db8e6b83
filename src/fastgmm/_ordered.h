/* Atomics for the ordered slot reduction of _estep.pyx / _studentt.pyx.
 *
 * Three operations on a shared int64 counter, and a polite spin-wait:
 *   fastgmm_take(c)            c++ (relaxed), returning the old value: hands
 *                              out slots 0, 1, 2, ... exactly once each;
 *   fastgmm_load_acquire(c)    reads the "next slot to add" counter; what the
 *                              thread that stored it wrote before its release
 *                              store (its addition into the result) is
 *                              visible after this load;
 *   fastgmm_store_release(c,v) publishes that counter after an addition;
 *   fastgmm_wait_turn(c, s)    spins (pause instruction, then yielding the
 *                              CPU so that an oversubscribed machine lets the
 *                              thread being waited for run) until *c == s,
 *                              with acquire semantics.
 * GCC and Clang: the __atomic builtins; MSVC: the interlocked intrinsics
 * (full barriers, stronger than needed). Any other compiler stops here with
 * an explicit error rather than building a racy reduction.
 */
#ifndef FASTGMM_ORDERED_H
#define FASTGMM_ORDERED_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)

static inline int64_t fastgmm_take(int64_t *c) { return __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline int64_t fastgmm_load_acquire(int64_t *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }
static inline int64_t fastgmm_load_relaxed(int64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }
static inline void fastgmm_store_release(int64_t *c, int64_t v) { __atomic_store_n(c, v, __ATOMIC_RELEASE); }

#elif defined(_MSC_VER)

#include <intrin.h>
static inline int64_t fastgmm_take(int64_t *c) { return _InterlockedExchangeAdd64((volatile __int64 *)c, 1); }
static inline int64_t fastgmm_load_acquire(int64_t *c) {
    return _InterlockedCompareExchange64((volatile __int64 *)c, 0, 0);
}
static inline int64_t fastgmm_load_relaxed(int64_t *c) { return fastgmm_load_acquire(c); }
static inline void fastgmm_store_release(int64_t *c, int64_t v) { _InterlockedExchange64((volatile __int64 *)c, v); }

#else
#error "fastgmm: the ordered slot reduction (_ordered.h) needs GCC/Clang __atomic builtins or MSVC intrinsics"
#endif

/* One spin iteration's pause: tells the core it is a spin loop (less power,
 * no memory-order mis-speculation penalty when the counter changes). */
#if defined(__x86_64__) || defined(__i386__)
#define FASTGMM_PAUSE() __builtin_ia32_pause()
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#define FASTGMM_PAUSE() _mm_pause()
#elif (defined(__aarch64__) || defined(__arm__)) && (defined(__GNUC__) || defined(__clang__))
#define FASTGMM_PAUSE() __asm__ __volatile__("yield")
#else
#define FASTGMM_PAUSE() ((void)0)
#endif

#if defined(_WIN32)
#include <windows.h>
#define FASTGMM_YIELD() SwitchToThread()
#else
#include <sched.h>
#define FASTGMM_YIELD() sched_yield()
#endif

/* Spins this many pauses (~10-50 us) before yielding the CPU at each further
 * check: a wait for a slot still running on another core is normally short,
 * but with more threads than cores the slot being waited for may not be
 * running at all until this thread gives up its time slice. */
#define FASTGMM_SPINS_BEFORE_YIELD 1024

static inline void fastgmm_wait_turn(int64_t *turn, int64_t s) {
    int spins = 0;
    while (fastgmm_load_acquire(turn) != s) {
        if (spins < FASTGMM_SPINS_BEFORE_YIELD) {
            FASTGMM_PAUSE();
            spins++;
        } else {
            FASTGMM_YIELD();
        }
    }
}

#endif
