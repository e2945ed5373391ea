/*
 * glyphnet native kernels: shared declarations. NHWC convolutions as im2col +
 * BLAS sgemm (conv.c; per region of edge outputs in regions.c) or direct
 * loops (thin.c and its 16-float build thin16.c, wide.c), a fused conv ->
 * batch norm (batch statistics) -> swish/sigmoid block and its backward
 * pass (block.c), elementwise ops and Adam (elementwise.c), the channel's
 * resampling, 3x3 correlation and hard sigmoid (channel.c). Called from
 * Deno through FFI (ffi.ts), in turn or queued for one worker thread
 * (queue.c), which runs them in order; every buffer is owned by the caller
 * except pool.c's scratch arenas, which only one kernel at a time uses.
 *
 * Threads: every kernel cuts its loops into parts (gn__parallel below),
 * which the runners (runners.c) run; OpenBLAS is kept at 1 thread and
 * called from inside a part on its own block, so the two never compete for
 * cores. The cut depends only on the shapes and the thread count set, never
 * on how many threads run the parts, so a thread count always gives the
 * same bits: batch-norm sums run over fixed 64-row blocks added in block
 * order, col2im gives each image to one part, dw sums its parts in order.
 * GEMMs cut into other blocks at another thread count may round
 * differently in the last bit.
 *
 * Conv geometry, int g[GN_GEOM] (the convolution in its forward direction):
 *   B, H, W, C (input), KH, KW, CO (filter HWIO), OH, OW (output),
 *   SH, SW (strides), PT, PL (padding before, top and left).
 * A transposed convolution is the backward-input pass of the conv whose
 * "input" is its output: same geometry, roles swapped.
 */
#ifndef GLYPHNET_H
#define GLYPHNET_H

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
/* OpenBLAS's own threads: kernels keep it at 1 (gn_set_threads). */
extern void openblas_set_num_threads(int);
#endif

enum { B_, H_, W_, C_, KH_, KW_, CO_, OH_, OW_, SH_, SW_, PT_, PL_, GN_GEOM };

/* a·b + c in one rounding where the CPU has FMA. -std=c11 keeps the
 * compiler from fusing on its own, and polynomials as chains of separate
 * multiplies and adds ran up to 4x slower. */
#ifdef __FMA__
#define GN_FMA(a, b, c) __builtin_fmaf(a, b, c)
#else
#define GN_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* Internal to the library (hidden from the dynamic symbol table). */
#define GN_INTERNAL __attribute__((visibility("hidden")))

/* One part of a kernel: part t of nt, on the kernel's arguments in ctx. */
typedef void (*GnPart)(void *ctx, int t, int nt);
/* Runs fn(ctx, t, team) once for each part t in [0, team) (a team below 1
 * is 1), on whichever threads are free (runners.c); returns when all are
 * done. A part must give the same bits whichever thread runs it, and must
 * not wait for another part. */
GN_INTERNAL void gn__parallel(int team, GnPart fn, void *ctx);

/* Scratch for n floats, reused across calls; NULL when out of memory. */
GN_INTERNAL float *gn__scratch(size_t n);
/* A second scratch, of `bytes` (64-byte aligned), for a kernel's working
 * memory beside gn__scratch's im2col rows: per-thread partial sums, factor
 * tables. Not zeroed; NULL when out of memory. */
GN_INTERNAL void *gn__work(size_t bytes);
/* A third, for a conv's filter cut to the taps its outputs reach (conv.c),
 * held while the conv runs on gn__scratch and gn__work. */
GN_INTERNAL float *gn__taps(size_t n);
/* The kernel queue (queue.c): tasks queued and done, and whether this
 * thread is its worker (pool.c holds them). */
GN_INTERNAL extern atomic_ullong gn__queued, gn__done;
GN_INTERNAL extern _Thread_local int gn__on_worker;
/* Returns once the kernel queue has run every queued task: calls that
 * change what kernels share (threads, BLAS settings) wait for it. */
GN_INTERNAL void gn__q_drain(void);
/* A monotonic clock in seconds (pool.c), for the probes that time themselves. */
GN_INTERNAL double gn__seconds(void);
/* 1 when called beside the queue's worker while it has tasks (the channel's
 * corner tables, computed on the JS thread): such a call stays on one thread. */
GN_INTERNAL int gn__q_busy_elsewhere(void);
/* Threads of the team (gn_set_threads), at least 1. */
GN_INTERNAL int gn__threads(void);
/* Parts to cut `work` into (in GEMM-flop equivalents, runners.c): 1 for small
 * work, where waking a second thread costs more than it saves; at most the
 * threads set. Depends only on the work and gn_set_threads. */
GN_INTERNAL int gn__team(double work);
/* Runs parts of the open job, if any, on this thread (the JS thread while it
 * waits for the queue); returns how many it ran. */
GN_INTERNAL int gn__join(void);
/* Copies text s into out (cap bytes, NUL-ended) for JS to read from its own
 * buffer; returns the characters copied (s's length when cap <= 0). */
GN_INTERNAL int gn__copy_text(const char *s, char *out, int cap);
/* Keeps this library mapped until the process ends (threads that run its
 * code outlive a dlclose); 0, or -1 when it could not. */
GN_INTERNAL int gn__pin_library(void);
/* One step of a spin-wait: tells the CPU this thread is waiting. */
static inline void gn__relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
/* [lo, hi) of part t when [0, n) is split into `parts` near-equal ranges. */
static inline void gn__split(size_t n, int parts, int t, size_t *lo, size_t *hi) {
  const size_t q = n / (size_t)parts, r = n % (size_t)parts;
  *lo = (size_t)t * q + ((size_t)t < r ? (size_t)t : r);
  *hi = *lo + q + ((size_t)t < r ? 1 : 0);
}
/* 1x1, stride 1, no padding: the input rows are the im2col rows. */
GN_INTERNAL int gn__pointwise(const int *g);
/* Output pixels B*OH*OW and patch length KH*KW*C. */
static inline size_t gn__rows(const int *g) { return (size_t)g[B_] * g[OH_] * g[OW_]; }
static inline size_t gn__k(const int *g) { return (size_t)g[KH_] * g[KW_] * g[C_]; }
/* Floats of column scratch the conv routines below need (0: none). */
GN_INTERNAL size_t gn__col_floats(const int *g);
/* Convolution and its gradients; col is gn__col_floats(g) floats of scratch.
 * A transposed convolution's forward pass is gn__conv_bwd_input. */
GN_INTERNAL void gn__conv_fwd(const float *x, const float *w, float *y, const int *g, float *col);
GN_INTERNAL void gn__conv_bwd_input(const float *dy, const float *w, float *dx, const int *g,
                                    float *col);
GN_INTERNAL void gn__conv_bwd_filter(const float *x, const float *dy, float *dw, const int *g,
                                     float *col);
/* Always inlined: compiled once per set of constant arguments, so that
 * small loops over them unroll and their sums stay in registers. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* The geometry (above) as named fields, for the direct loops of thin.c and wide.c. */
typedef struct {
  int B, H, W, C, KH, KW, CO, OH, OW, SH, SW, PT, PL;
} GnGeo;

static inline GnGeo gn__geo(const int *g) {
  return (GnGeo){g[B_],  g[H_],  g[W_],  g[C_],  g[KH_], g[KW_], g[CO_],
                 g[OH_], g[OW_], g[SH_], g[SW_], g[PT_], g[PL_]};
}

/* Output columns [lo, hi) have every tap inside the input's width. */
static inline void gn__inner_columns(GnGeo g, int *lo, int *hi) {
  *lo = (g.PL + g.SW - 1) / g.SW;
  const int end = (g.W - g.KW + g.PL) / g.SW + 1;
  *hi = end < g.OW ? end : g.OW;
  if (*hi < *lo) *hi = *lo;
}

/* Output pixels [lo, hi) of row oy have every tap inside the input (an
 * empty range when the row's taps leave it vertically). */
static inline void gn__inner_range(GnGeo g, int oy, int *lo, int *hi) {
  *lo = *hi = 0;
  const int iy = oy * g.SH - g.PT;
  if (iy < 0 || iy + g.KH > g.H) return;
  gn__inner_columns(g, lo, hi);
}

/* dst[t][j][i] = src[t][i][j] for taps t, i < rows, j < cols: filters
 * between [tap][c][co] (HWIO) and [tap][co][c]. */
GN_INTERNAL void gn__transpose_taps(const float *src, float *dst, size_t taps, int rows, int cols);
/* out = parts[0] + parts[1] + ... + parts[n-1], each of len floats, added in
 * that order (the per-thread or per-group partial sums of a filter gradient). */
GN_INTERNAL void gn__sum_parts(const float *parts, int n, size_t len, float *out);

/* The passes of a convolution, for kernels that choose per pass. */
enum { GN_FWD, GN_BWD_INPUT, GN_BWD_FILTER };

/* Thin layers (thin.c): stride 1 with at most 4 input or output channels,
 * computed directly where gn__thin_fits(g, pass); scratch is
 * gn__thin_floats(g) floats. The gn__thin16_* (thin16.c) are the same in
 * 16-float vectors, for the passes where gn__thin16_fits(g, pass). */
GN_INTERNAL size_t gn__thin_floats(const int *g);
#define GN_THIN_API(prefix)                                                                    \
  GN_INTERNAL int prefix##fits(const int *g, int pass);                                        \
  GN_INTERNAL void prefix##fwd(const float *x, const float *w, float *y, const int *g,          \
                               float *scratch);                                                \
  GN_INTERNAL void prefix##bwd_input(const float *dy, const float *w, float *dx, const int *g,  \
                                     float *scratch);                                          \
  GN_INTERNAL void prefix##bwd_filter(const float *x, const float *dy, float *dw, const int *g, \
                                      float *scratch);
GN_THIN_API(gn__thin_)
GN_THIN_API(gn__thin16_)

/* Direct forward convolutions with AVX-512 (wide.c) where gn__wide(g):
 * outputs in whole 16-float vectors, at least 8 inputs, few weights. No scratch. */
GN_INTERNAL int gn__wide(const int *g);
GN_INTERNAL void gn__wide_fwd(const float *x, const float *w, float *y, const int *g);
/* Its input gradient where gn__wide_t(g): inputs in whole 16-float vectors;
 * uses gn__work for the transposed weights; -1 when out of memory. */
GN_INTERNAL int gn__wide_t(const int *g);
GN_INTERNAL int gn__wide_bwd_input(const float *dy, const float *w, float *dx, const int *g);
/* Its filter gradient where gn__wide_dw(g); uses gn__work; -1 when out of memory. */
GN_INTERNAL int gn__wide_dw(const int *g);
GN_INTERNAL int gn__wide_bwd_filter(const float *x, const float *dy, float *dw, const int *g);

/* The GEMM path in regions of outputs that reach the same taps (regions.c),
 * for convs whose edge outputs skip enough of the work (regions.c says how
 * much): 0, or -1 when g has no such regions or memory ran out (nothing
 * written then). */
GN_INTERNAL int gn__regions_fwd(const float *x, const float *w, float *y, const int *g);
GN_INTERNAL int gn__regions_bwd_input(const float *dy, const float *w, float *dx, const int *g);
GN_INTERNAL int gn__regions_bwd_filter(const float *x, const float *dy, float *dw, const int *g);

/* The exported kernels (their comments are at their definitions); queue.c
 * queues calls to them as gnq_X with the same arguments. */
int gn_conv2d(const float *x, const float *w, float *y, const int *g);
int gn_conv2d_bwd_input(const float *dy, const float *w, float *dx, const int *g);
int gn_conv2d_bwd_input_add(const float *dy, const float *w, const float *add, float *dx,
                            const int *g);
int gn_conv2d_bwd_filter(const float *x, const float *dy, float *dw, const int *g);
void gn_matmul(const float *a, const float *b, float *c, int batch, int m, int n, int k, int ta,
               int tb, int stride_a, int stride_b);
int gn_block_fwd(const float *x, const float *w, const float *bias, const float *gamma,
                 const float *beta, float *y, float *z, float *mean, float *var, const int *g,
                 int transpose, int act, float eps, const float *res);
int gn_bn_act_bwd(const float *dy, const float *z, const float *mean, const float *bias,
                  const float *var, const float *gamma, const float *beta, size_t M, int C,
                  int act, float eps, float *dz, float *dgamma, float *dbeta, float *dbias);
void gn_unary(int op, const float *x, float *out, size_t n);
int gn_reduce(int op, const float *x, float *out, const int *d, size_t len);
void gn_random_normal(double seed, float *out, size_t n, float mean, float sd);
void gn_adam(const float *value, const float *grad, const float *m, const float *v,
             float *value_out, float *m_out, float *v_out, int n, float a, float b1, float b2,
             float e);
void gn_moving_average(const float *m, const float *x, float *out, int n, float keep, float take);
void gn_binary(int op, const float *a, int na, const float *b, int nb, float *out, int n);
void gn_binary_bcast(int op, const float *a, const float *b, float *out, const int *d);
void gn_transpose(const float *x, float *out, const int *d);
void gn_gather_weighted(const float *x, const int *index, const float *weight, float *out,
                        int count, int batch, int pixels, int C);
void gn_scatter_weighted(const float *dy, const int *index, const float *weight, float *dx,
                         int count, int batch, int pixels, int C);
void gn_correlate3x3(const float *x, const double *kernel, float *y, int B, int H, int W, int C);
int gn_blur(const float *x, const float *taps, int T, float *y, int B, int H, int W, int C);
void gn_squash(const float *x, const double *params, float *value, float *grad, int B,
               size_t per);

#endif
