/* The ordered slot reduction of the EM kernel (_estep.pyx): atomics, and the
 * schedule every thread follows (below; the per-thread partials are in
 * _ordered.pxd).
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
#include <stdlib.h>

#if defined(__GNUC__) || defined(__clang__)

static inline int64_t fastgmm_take(int64_t *c) { return __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }
static inline void fastgmm_add_relaxed(int64_t *c, int64_t v) { __atomic_fetch_add(c, v, __ATOMIC_RELAXED); }
static inline int64_t fastgmm_load_acquire(int64_t *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }
static inline int64_t fastgmm_load_relaxed(int64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }
static inline void fastgmm_store_release(int64_t *c, int64_t v) { __atomic_store_n(c, v, __ATOMIC_RELEASE); }

#elif defined(_MSC_VER)

#include <intrin.h>
static inline int64_t fastgmm_take(int64_t *c) { return _InterlockedExchangeAdd64((volatile __int64 *)c, 1); }
static inline void fastgmm_add_relaxed(int64_t *c, int64_t v) { _InterlockedExchangeAdd64((volatile __int64 *)c, v); }
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

/* Spins this many pauses (~1-6 us: a pause is 10-140 cycles by CPU) before
 * yielding the CPU at each further check. On dedicated cores a wait is short
 * (the slot ahead is finishing on another core); with more threads than
 * cores the slot waited for may not be running at all until this thread
 * gives up its time slice, and every spin is time taken from it (1,024
 * spins made 8 threads on 2 loaded cores 14 % slower than 1 on W2's shape at
 * 100k rows). */
#define FASTGMM_SPINS_BEFORE_YIELD 128

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

/* ------------------------------------------------------------------------
 * The ordered reduction's schedule, followed by every mode of the EM kernel.
 *
 * Rows are cut into n_slots slots, each summed by one thread into a private
 * partial of n_values doubles that is then added into the single result;
 * slot s is added only after slots 0 .. s - 1, so the result is the same sum
 * in the same order whoever computed which slot (bitwise identical for any
 * thread count). Use, inside the parallel region, every thread with its own
 * fastgmm_order_thread and its own two partials (parts[0], parts[1]; parts[1]
 * unused if n_part is 1):
 *
 *     fastgmm_order_thread_init(&t, n_part);
 *     while (allocation ok && (s = fastgmm_order_take(&o, &t)) >= 0) {
 *         zero parts[t.cur]; sum slot s into it;
 *         fastgmm_order_done(&o, &t, s, parts, add, spec);
 *     }
 *     fastgmm_order_finish(&o, &t, parts, add, spec);
 *
 * after fastgmm_order_init (and fastgmm_order_free after the region); a
 * thread whose allocation failed calls fastgmm_order_fail and takes no slot.
 * `add(spec, part, s, j0, j1)` adds values j0 .. j1 - 1 of a partial into
 * the result (the kernel knows which output each value belongs to).
 *
 * Slots are taken with an atomic increment (o->take), so in increasing order
 * and each exactly once. The additions are pipelined by blocks of the
 * partial (o->block values each): turns[b] is the next slot whose block b is
 * to be added. A thread adds slot s's blocks 0, 1, ..., each when turns[b]
 * == s, then sets turns[b] = s + 1 (a release store after the addition,
 * read with acquire: the next adder sees the finished sums). So slot s + 1
 * can add block 0 while slot s adds block 1: the additions of a wide partial
 * (W6: 536 KiB) are not one serial chain through every thread. With two
 * partials, a thread that finishes slot s while turns[0] < s keeps s
 * *pending* and computes its next slot into the other partial instead of
 * waiting; after that slot it adds the pending one first (waiting for its
 * turn if needed), then tries the new one likewise. A thread thus waits for
 * block 0 only when a slot taken before its pending slot is still being
 * computed a whole slot later, and for a later block only while the thread
 * ahead of it is adding that block.
 *
 * Why it cannot deadlock. A thread blocks only while adding a slot s it has
 * computed (it holds no other unadded slot smaller than s: its other
 * partial, if any, holds a later slot), before block b, until turns[b] == s.
 * Every thread adds a slot's blocks in increasing order and adds blocks only
 * in slot order, so turns[0] >= turns[1] >= ... >= turns[B - 1]. Let
 * m = turns[B - 1], the first slot not wholly added, while some threads are
 * blocked: each waits for a slot >= m that it took, so m was taken too
 * (slots are taken in increasing order, never skipped) by a thread that
 * adds it before taking anything else. Slot m - 1 is wholly added, so every
 * turns[b] >= m, and no turns[b] can pass m before m's block b is added:
 * turns[b] == m exactly for the blocks of m still to add. The thread of m
 * is thus computing m (the slot's work has no synchronisation, so it
 * ends), or adding m's blocks, none of which waits, or has m pending while
 * computing a later slot, after which it adds m first. Either way m is
 * wholly added in finite time: by induction every taken slot is. A thread
 * leaves the loop when no slot is left or after another thread's allocation
 * failure, always adding its pending slot on the way out
 * (fastgmm_order_finish); a thread that failed to allocate took no slot, so
 * no thread waits for a slot that no one will add. (After a failure the
 * pass reports it and its result is thrown away; slots not taken are simply
 * never added.)
 *
 * With o->ordered == 0 (only per-row outputs: nothing to add) no thread
 * ever waits.
 * ------------------------------------------------------------------------ */

/* int64 counters per turn: one 64-byte cache line each, so that the adders
 * of neighbouring blocks do not invalidate each other's counter. */
#define FASTGMM_TURN_STRIDE 8

typedef struct {
    int64_t take;     /* next slot to hand out */
    int64_t failed;   /* a thread could not allocate its buffers */
    int64_t n_slots;
    int64_t waits;    /* additions that found an earlier slot's block 0 not yet added (diagnostics) */
    int64_t *turns;   /* (n_blocks * FASTGMM_TURN_STRIDE): turns[b * stride] = next slot to add block b */
    int64_t n_values; /* doubles in a partial */
    int64_t block;    /* doubles per block of the additions */
    int64_t n_blocks;
    int ordered;      /* there are sums to add */
} fastgmm_order;

typedef struct {
    int64_t pending;  /* a computed slot not yet added (in parts[1 - cur]), or -1 */
    int cur;          /* the partial the next slot is summed into */
    int n_part;       /* 1 or 2 */
} fastgmm_order_thread;

typedef void (*fastgmm_add_fn)(const void *spec, void *part, int64_t s, int64_t j0, int64_t j1);

/* Returns -1 if the turn counters could not be allocated (then nothing to free), else 0. */
static inline int fastgmm_order_init(fastgmm_order *o, int64_t n_slots, int ordered, int64_t n_values,
                                     int64_t block) {
    o->take = 0;
    o->failed = 0;
    o->n_slots = n_slots;
    o->waits = 0;
    o->ordered = ordered;
    o->n_values = n_values;
    o->block = block > 0 ? block : 1;
    o->n_blocks = ordered ? (n_values + o->block - 1) / o->block : 0;
    if (o->n_blocks < 1)
        o->n_blocks = 1;
    o->turns = (int64_t *)calloc((size_t)(o->n_blocks * FASTGMM_TURN_STRIDE), sizeof(int64_t));
    return o->turns == NULL ? -1 : 0;
}

static inline void fastgmm_order_free(fastgmm_order *o) {
    free(o->turns);
    o->turns = NULL;
}

static inline void fastgmm_order_thread_init(fastgmm_order_thread *t, int n_part) {
    t->pending = -1;
    t->cur = 0;
    t->n_part = n_part;
}

static inline void fastgmm_order_fail(fastgmm_order *o) { fastgmm_store_release(&o->failed, 1); }

static inline int fastgmm_order_failed(fastgmm_order *o) { return fastgmm_load_acquire(&o->failed) != 0; }

/* The next slot for this thread, or -1: none left (or a thread failed). */
static inline int64_t fastgmm_order_take(fastgmm_order *o, fastgmm_order_thread *t) {
    int64_t s;
    (void)t;
    if (fastgmm_load_relaxed(&o->failed))
        return -1;
    s = fastgmm_take(&o->take);
    return s < o->n_slots ? s : -1;
}

static inline int fastgmm_order_ready(fastgmm_order *o, int64_t s) {
    return fastgmm_load_acquire(&o->turns[0]) == s;
}

static inline void fastgmm_order_add_in_turn(fastgmm_order *o, void *part, int64_t s, fastgmm_add_fn add,
                                             const void *spec) {
    int64_t b, j0, j1;
    int64_t *turn;
    if (!o->ordered)
        return;
    if (!fastgmm_order_ready(o, s))
        fastgmm_take(&o->waits);
    for (b = 0; b < o->n_blocks; b++) {
        turn = &o->turns[b * FASTGMM_TURN_STRIDE];
        fastgmm_wait_turn(turn, s);
        j0 = b * o->block;
        j1 = j0 + o->block < o->n_values ? j0 + o->block : o->n_values;
        add(spec, part, s, j0, j1);
        fastgmm_store_release(turn, s + 1);
    }
}

/* Slot s is summed in parts[t->cur]: add it (and the pending one first), or keep it pending. */
static inline void fastgmm_order_done(fastgmm_order *o, fastgmm_order_thread *t, int64_t s, void **parts,
                                      fastgmm_add_fn add, const void *spec) {
    if (t->pending >= 0) {
        fastgmm_order_add_in_turn(o, parts[1 - t->cur], t->pending, add, spec);
        t->pending = -1;
    }
    if (t->n_part == 1 || !o->ordered || fastgmm_order_ready(o, s)) {
        fastgmm_order_add_in_turn(o, parts[t->cur], s, add, spec);
    } else {
        t->pending = s;
        t->cur = 1 - t->cur;
    }
}

/* On leaving the loop: the pending slot, if any. */
static inline void fastgmm_order_finish(fastgmm_order *o, fastgmm_order_thread *t, void **parts,
                                        fastgmm_add_fn add, const void *spec) {
    if (t->pending >= 0) {
        fastgmm_order_add_in_turn(o, parts[1 - t->cur], t->pending, add, spec);
        t->pending = -1;
    }
}

#endif
