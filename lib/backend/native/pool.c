/* The scratch arenas, the kernel queue's counters, the BLAS settings and a
 * GEMM ceiling probe. The threads are runners.c's. */
#define _GNU_SOURCE /* dladdr, clock_gettime */
#include "glyphnet.h"
#include <dlfcn.h>
#include <sched.h>
#include <strings.h>
#include <time.h>

#ifndef __APPLE__
extern char *openblas_get_config(void);
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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

static Arena scratch_arena, work_arena, taps_arena;

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

void gn__q_drain(void) {
  while (atomic_load(&gn__done) < atomic_load(&gn__queued)) sched_yield();
}

int gn__q_busy_elsewhere(void) {
  return !gn__on_worker && atomic_load(&gn__done) < atomic_load(&gn__queued);
}

int gn__pin_library(void) {
  Dl_info self;
  if (!dladdr((void *)gn__pin_library, &self)) return -1;
  return dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE) ? 0 : -1;
}

float *gn__scratch(size_t n) { return (float *)grow(&scratch_arena, n * sizeof(float)); }

void *gn__work(size_t bytes) { return grow(&work_arena, bytes); }

float *gn__taps(size_t n) { return (float *)grow(&taps_arena, n * sizeof(float)); }

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

/**
 * Copies the CPU's model name ("AMD EPYC 9B45", from CPUID) into `out` as
 * gn_blas_config_copy does; "" where the CPU does not say. Deno's tasks
 * cannot read /proc/cpuinfo (it wants --allow-all); CPUID needs nothing.
 */
int gn_cpu_name_copy(char *out, int cap) {
  char name[49] = "";
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[12];
  if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
    for (unsigned i = 0; i < 3; i++) {
      __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    }
    memcpy(name, r, sizeof r);
    name[48] = 0;
  }
#endif
  return gn__copy_text(name, out, cap);
}

/**
 * Copies the name of the kernels OpenBLAS runs ("Haswell", "SkylakeX",
 * "Cooperlake", ...; "" for Accelerate) into `out` as gn_blas_config_copy
 * does, and returns its length, negated when OPENBLAS_CORETYPE named them
 * rather than OpenBLAS's own look at the CPU (a name OpenBLAS does not know
 * leaves the choice to it): an environment that sets it (some machine
 * images do) can hold an AVX-512 CPU to AVX2 kernels at half the GEMM speed.
 */
int gn_blas_core_copy(char *out, int cap) {
#ifdef __APPLE__
  return gn__copy_text("", out, cap);
#else
  const char *core = openblas_get_corename(), *asked = getenv("OPENBLAS_CORETYPE");
  const int n = gn__copy_text(core, out, cap);
  return asked && strcasecmp(asked, core) == 0 ? -n : n;
#endif
}

void gn__transpose_taps(const float *src, float *dst, size_t taps, int rows, int cols) {
  for (size_t t = 0; t < taps; t++) {
    const float *s = src + t * rows * cols;
    float *d = dst + t * rows * cols;
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) d[(size_t)j * rows + i] = s[(size_t)i * cols + j];
    }
  }
}

void gn__sum_parts(const float *parts, int n, size_t len, float *out) {
  memcpy(out, parts, len * sizeof(float));
  for (int k = 1; k < n; k++) {
    const float *p = parts + (size_t)k * len;
    for (size_t i = 0; i < len; i++) out[i] += p[i];
  }
}

/** Bytes held between calls by the three arenas (gn__scratch, gn__work, gn__taps). */
double gn_arena_bytes(void) {
  gn__q_drain();
  return (double)(scratch_arena.cap + work_arena.cap + taps_arena.cap);
}

double gn__seconds(void) {
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
    const double t0 = gn__seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                n);
    const double dt = gn__seconds() - t0;
    if (r > 0 && dt < best) best = dt;
  }
#ifndef __APPLE__
  openblas_set_num_threads(1);
#endif
  free(a);
  return 2.0 * (double)n * n * n / best / 1e9;
}
