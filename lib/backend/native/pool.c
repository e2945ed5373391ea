/* The thread team every kernel uses, the scratch arena, the BLAS settings
 * and a GEMM ceiling probe. See glyphnet.h for the threading rules. */
#include "glyphnet.h"
#include <sched.h>
#include <time.h>

#ifndef __APPLE__
extern void openblas_set_num_threads(int);
extern char *openblas_get_config(void);
#endif

/* Threads the team uses; set once per process from JS (synchronous calls). */
static int team_threads = 1;

/* Memory that only grows, reused by every call (kernels run one at a time,
 * called in turn or on the queue's worker, so one call owns it; threads take
 * disjoint parts; the corner tables, which run beside the worker, use none). Kernels used
 * to malloc their working memory per call; in the Deno process the blocks
 * above glibc's mmap threshold came back as fresh pages on some calls, and
 * the page faults made D's last filter gradient at the small config 0.56 ->
 * 4.7 ms on 2 threads (its per-thread copies are 2.4 MB). */
typedef struct {
  void *p;
  size_t cap;
} Arena;

static Arena scratch_arena, work_arena;

static void *grow(Arena *a, size_t bytes) {
  if (bytes > a->cap) {
    free(a->p);
    const size_t rounded = (bytes + 63) / 64 * 64;
    a->p = aligned_alloc(64, rounded);
    a->cap = a->p ? rounded : 0;
  }
  return a->p;
}

/* The kernel queue's progress (queue.c runs the queue): tasks queued and
 * done. Kept here so that calls changing what kernels share can wait for it. */
atomic_ullong gn__queued, gn__done;
_Thread_local int gn__on_worker;
atomic_int gn__js_waits;

void gn__q_drain(void) {
  while (atomic_load(&gn__done) < atomic_load(&gn__queued)) sched_yield();
}

int gn__q_busy_elsewhere(void) {
  return !gn__on_worker && atomic_load(&gn__done) < atomic_load(&gn__queued);
}

/* Work per part below which a kernel is cut into fewer parts. Work is in
 * GEMM flops: each kernel scales its count by its cost per value against
 * sgemm's ~50 GFLOP/s on one core (batch norm ~40 per value, a normal draw
 * ~450), so 10 M is about 0.2 ms. On the 2-core test machine, splitting
 * kernels under ~0.4 ms lost more to wake-ups and to data left in the other
 * core's cache than it gained: the tiny config took 0.033-0.049 s a step on
 * 2 threads with a 0.5 M threshold, 0.027-0.028 s on 1. */
#define TEAM_MIN_WORK 1e7
static double min_work = TEAM_MIN_WORK;

float *gn__scratch(size_t n) { return (float *)grow(&scratch_arena, n * sizeof(float)); }

void *gn__work(size_t bytes) { return grow(&work_arena, bytes); }

int gn__threads(void) { return team_threads; }

int gn__team(double work) {
  if (team_threads <= 1 || work < 2 * min_work) return 1;
  const double t = min_work > 0 ? work / min_work : team_threads;
  return t < team_threads ? (int)t : team_threads;
}

/* Most runners a test allows (gn_set_runners); 0: no limit. */
static int runner_cap;

/*
 * The queue's worker shares the cores with the JS thread, which builds the
 * step while the kernels run: while it does, the worker's parts run on one
 * thread fewer, so three busy threads never share two cores (a part whose
 * thread lost its core held the others at the region's end: at the small
 * config a second thread gained nothing). While JavaScript waits for
 * results, all run. The parts stay the same, so the bits do too.
 * Calls on the JS thread beside a busy worker (the corner tables) run on one.
 */
int gn__runners(int team) {
  int n = team;
  if (gn__q_busy_elsewhere()) n = 1;
  else if (gn__on_worker && !atomic_load(&gn__js_waits)) n = team_threads - 1;
  if (runner_cap > 0 && n > runner_cap) n = runner_cap;
  return n < 1 ? 1 : (n > team ? team : n);
}

void gn__parallel(int team, GnPart fn, void *ctx) {
  GN_PARALLEL(team, { fn(ctx, GN_TID(), GN_NTH()); });
}

/** Caps the threads that run a kernel's parts (tests: the bits must not change); 0 lifts it. */
void gn_set_runners(int cap) {
  gn__q_drain();
  runner_cap = cap < 0 ? 0 : cap;
}

/** Sets the smallest work split over the team (tests pass 0 to thread tiny shapes); < 0 resets. */
void gn_set_min_work(double work) {
  gn__q_drain();
  min_work = work < 0 ? TEAM_MIN_WORK : work;
}

/**
 * Sets the team's threads. OpenBLAS stays at 1 thread: kernels call it
 * from inside the team, each thread on its own block.
 */
void gn_set_threads(int n) {
  gn__q_drain();
  team_threads = n < 1 ? 1 : n;
#ifdef _OPENMP
  omp_set_dynamic(0);
  omp_set_num_threads(team_threads);
#endif
#ifndef __APPLE__
  openblas_set_num_threads(1);
#endif
}

/** Threads of the team. */
int gn_get_threads(void) { return team_threads; }

/** 1 when the library was built with OpenMP (threads available), else 0. */
int gn_has_openmp(void) {
#ifdef _OPENMP
  return 1;
#else
  return 0;
#endif
}

/** The BLAS build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Zen". */
const char *gn_blas_config(void) {
#ifdef __APPLE__
  return "Accelerate";
#else
  return openblas_get_config();
#endif
}

int gn__copy_text(const char *s, char *out, int cap) {
  const int n = (int)strlen(s);
  if (cap <= 0) return n;
  const int k = n < cap - 1 ? n : cap - 1;
  memcpy(out, s, (size_t)k);
  out[k] = 0;
  return k;
}

/**
 * Copies the BLAS description into `out` (`cap` bytes, NUL-terminated) and
 * returns its length: JS reads it from its own buffer, so it needs no
 * pointer access (Deno allows that only with unscoped --allow-ffi).
 */
int gn_blas_config_copy(char *out, int cap) { return gn__copy_text(gn_blas_config(), out, cap); }

/** Bytes held between calls by the two arenas (gn__scratch, gn__work). */
double gn_arena_bytes(void) {
  gn__q_drain();
  return (double)(scratch_arena.cap + work_arena.cap);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/**
 * The machine's FP32 GEMM ceiling: GFLOP/s of OpenBLAS's own sgemm on
 * n x n matrices with `threads` BLAS threads, best of `reps` calls after
 * one warm-up. Restores BLAS to 1 thread. Returns -1 when out of memory.
 */
double gn_sgemm_gflops(int n, int reps, int threads) {
  gn__q_drain();
  const size_t nn = (size_t)n * n;
  float *a = (float *)malloc(3 * nn * sizeof(float));
  if (!a) return -1;
  float *b = a + nn, *c = b + nn;
  for (size_t i = 0; i < nn; i++) {
    a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
  }
#ifndef __APPLE__
  openblas_set_num_threads(threads);
#endif
  double best = 1e30;
  for (int r = 0; r <= reps; r++) {
    const double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                n);
    const double dt = now_seconds() - t0;
    if (r > 0 && dt < best) best = dt;
  }
#ifndef __APPLE__
  openblas_set_num_threads(1);
#endif
  free(a);
  return 2.0 * (double)n * n * n / best / 1e9;
}
