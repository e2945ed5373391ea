/* Convolutions as im2col + sgemm, their gradients, batched matmul, and the
 * BLAS thread settings. See glyphnet.h for the geometry layout. */
#include "glyphnet.h"

#ifndef __APPLE__
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
#endif

/* The one piece of global state: a scratch arena that only grows, reused by
 * every call (JS calls are synchronous and single-threaded). */
static float *arena = NULL;
static size_t arena_cap = 0;

/* Returns scratch for n floats, or NULL when out of memory. */
float *gn__scratch(size_t n) {
  if (n > arena_cap) {
    free(arena);
    arena = (float *)malloc(n * sizeof(float));
    arena_cap = arena ? n : 0;
  }
  return arena;
}

/** Sets the BLAS thread count (OpenBLAS; a no-op with Accelerate). */
void gn_set_threads(int n) {
#ifndef __APPLE__
  openblas_set_num_threads(n);
#endif
}

/** BLAS threads in use (1 with Accelerate, which manages its own). */
int gn_get_threads(void) {
#ifdef __APPLE__
  return 1;
#else
  return openblas_get_num_threads();
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

/**
 * Copies the BLAS description into `out` (`cap` bytes, NUL-terminated) and
 * returns its length: JS reads it from its own buffer, so it needs no
 * pointer access (Deno allows that only with unscoped --allow-ffi).
 */
int gn_blas_config_copy(char *out, int cap) {
  const char *s = gn_blas_config();
  int n = (int)strlen(s);
  if (cap <= 0) return n;
  int k = n < cap - 1 ? n : cap - 1;
  memcpy(out, s, (size_t)k);
  out[k] = 0;
  return k;
}

/** Bytes held by the scratch arena. */
double gn_arena_bytes(void) { return (double)arena_cap * sizeof(float); }

int gn__pointwise(const int *g) {
  return g[KH_] == 1 && g[KW_] == 1 && g[SH_] == 1 && g[SW_] == 1 && g[PT_] == 0 &&
         g[PL_] == 0 && g[OH_] == g[H_] && g[OW_] == g[W_];
}

/* Copies n floats; inline for the few channels of early layers, where a
 * memcpy call per pixel and tap cost more than the copy. */
static inline void copy_floats(float *dst, const float *src, int n) {
  if (n >= 16) {
    memcpy(dst, src, (size_t)n * sizeof(float));
  } else {
    for (int c = 0; c < n; c++) dst[c] = src[c];
  }
}

/* One input and one output channel at stride 1 (the channel's separable
 * blur): direct loops over contiguous rows beat im2col with K = taps, N = 1. */
static int is_single(const int *g) {
  return g[C_] == 1 && g[CO_] == 1 && g[SH_] == 1 && g[SW_] == 1;
}

/* The output columns [lo, hi) whose tap kx lands inside the input row. */
static void tap_range(const int *g, int kx, int *lo, int *hi) {
  const int a = g[PL_] - kx, b = g[W_] + g[PL_] - kx;
  *lo = a > 0 ? a : 0;
  *hi = b < g[OW_] ? b : g[OW_];
}

static void single_fwd(const float *x, const float *w, float *y, const int *g) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_], KH = g[KH_], KW = g[KW_];
  memset(y, 0, (size_t)g[B_] * OH * OW * sizeof(float));
  for (int b = 0; b < g[B_]; b++) {
    for (int oy = 0; oy < OH; oy++) {
      float *yr = y + ((size_t)b * OH + oy) * OW;
      for (int ky = 0; ky < KH; ky++) {
        const int iy = oy - g[PT_] + ky;
        if (iy < 0 || iy >= H) continue;
        const float *xr = x + ((size_t)b * H + iy) * W - g[PL_];
        for (int kx = 0; kx < KW; kx++) {
          int lo, hi;
          tap_range(g, kx, &lo, &hi);
          const float wv = w[ky * KW + kx];
          for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + kx];
        }
      }
    }
  }
}

static void single_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_], KH = g[KH_], KW = g[KW_];
  memset(dx, 0, (size_t)g[B_] * H * W * sizeof(float));
  for (int b = 0; b < g[B_]; b++) {
    for (int oy = 0; oy < OH; oy++) {
      const float *dyr = dy + ((size_t)b * OH + oy) * OW;
      for (int ky = 0; ky < KH; ky++) {
        const int iy = oy - g[PT_] + ky;
        if (iy < 0 || iy >= H) continue;
        float *dxr = dx + ((size_t)b * H + iy) * W - g[PL_];
        for (int kx = 0; kx < KW; kx++) {
          int lo, hi;
          tap_range(g, kx, &lo, &hi);
          const float wv = w[ky * KW + kx];
          for (int ox = lo; ox < hi; ox++) dxr[ox + kx] += wv * dyr[ox];
        }
      }
    }
  }
}

static void single_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_], KH = g[KH_], KW = g[KW_];
  for (int ky = 0; ky < KH; ky++) {
    for (int kx = 0; kx < KW; kx++) {
      int lo, hi;
      tap_range(g, kx, &lo, &hi);
      double acc = 0;
      for (int b = 0; b < g[B_]; b++) {
        for (int oy = 0; oy < OH; oy++) {
          const int iy = oy - g[PT_] + ky;
          if (iy < 0 || iy >= H) continue;
          const float *dyr = dy + ((size_t)b * OH + oy) * OW;
          const float *xr = x + ((size_t)b * H + iy) * W - g[PL_];
          float row = 0.0f;
          for (int ox = lo; ox < hi; ox++) row += dyr[ox] * xr[ox + kx];
          acc += row;
        }
      }
      dw[ky * KW + kx] = (float)acc;
    }
  }
}

/* Rows [m0, m1) of col[M, KH*KW*C] from x[B,H,W,C]; row m is output pixel m. */
static void im2col_rows(const float *x, float *col, const int *g, size_t m0, size_t m1) {
  const int H = g[H_], W = g[W_], C = g[C_], KH = g[KH_], KW = g[KW_];
  const int OH = g[OH_], OW = g[OW_];
  const size_t K = (size_t)KH * KW * C;
  for (size_t m = m0; m < m1; m++) {
    const int b = (int)(m / ((size_t)OH * OW)), r = (int)(m % ((size_t)OH * OW));
    const int oy = r / OW, ox = r % OW;
    const float *xb = x + (size_t)b * H * W * C;
    float *row = col + (m - m0) * K;
    for (int ky = 0; ky < KH; ky++) {
      const int iy = oy * g[SH_] - g[PT_] + ky;
      float *dst = row + (size_t)ky * KW * C;
      if (iy < 0 || iy >= H) {
        memset(dst, 0, (size_t)KW * C * sizeof(float));
        continue;
      }
      const int ix0 = ox * g[SW_] - g[PL_];
      if (ix0 >= 0 && ix0 + KW <= W) {
        /* The KW taps of this row are contiguous in x. */
        copy_floats(dst, xb + ((size_t)iy * W + ix0) * C, KW * C);
        continue;
      }
      for (int kx = 0; kx < KW; kx++) {
        const int ix = ix0 + kx;
        if (ix < 0 || ix >= W) {
          for (int c = 0; c < C; c++) dst[kx * C + c] = 0.0f;
        } else {
          copy_floats(dst + kx * C, xb + ((size_t)iy * W + ix) * C, C);
        }
      }
    }
  }
}

/* Adds rows [m0, m1) of col[M, K] back onto dx[B,H,W,C]. */
static void col2im_rows(const float *col, float *dx, const int *g, size_t m0, size_t m1) {
  const int H = g[H_], W = g[W_], C = g[C_], KH = g[KH_], KW = g[KW_];
  const int OH = g[OH_], OW = g[OW_];
  const size_t K = (size_t)KH * KW * C;
  for (size_t m = m0; m < m1; m++) {
    const int b = (int)(m / ((size_t)OH * OW)), r = (int)(m % ((size_t)OH * OW));
    const int oy = r / OW, ox = r % OW;
    float *xb = dx + (size_t)b * H * W * C;
    const float *row = col + (m - m0) * K;
    const int ix0 = ox * g[SW_] - g[PL_];
    const int kx0 = ix0 < 0 ? -ix0 : 0;
    const int kx1 = ix0 + KW > W ? W - ix0 : KW;
    if (kx1 <= kx0) continue;
    for (int ky = 0; ky < KH; ky++) {
      const int iy = oy * g[SH_] - g[PT_] + ky;
      if (iy < 0 || iy >= H) continue;
      /* Taps kx0..kx1 of this row land on contiguous pixels of dx. */
      const float *src = row + ((size_t)ky * KW + kx0) * C;
      float *dst = xb + ((size_t)iy * W + ix0 + kx0) * C;
      const int n = (kx1 - kx0) * C;
      for (int i = 0; i < n; i++) dst[i] += src[i];
    }
  }
}

size_t gn__rows(const int *g) { return (size_t)g[B_] * g[OH_] * g[OW_]; }
size_t gn__k(const int *g) { return (size_t)g[KH_] * g[KW_] * g[C_]; }

/* im2col runs in chunks of rows whose columns fit in cache (~512 KiB):
 * a whole column matrix is 9x the input and went to memory and back. */
#define CHUNK_FLOATS (1 << 17)

static size_t chunk_rows(const int *g) {
  const size_t k = gn__k(g), m = gn__rows(g);
  size_t rows = CHUNK_FLOATS / k;
  if (rows < 64) rows = 64;
  return rows < m ? rows : m;
}

size_t gn__col_floats(const int *g) {
  return gn__pointwise(g) || is_single(g) ? 0 : chunk_rows(g) * gn__k(g);
}

void gn__conv_fwd(const float *x, const float *w, float *y, const int *g, float *col) {
  const size_t M = gn__rows(g), K = gn__k(g);
  const int N = g[CO_];
  if (gn__pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, N, (int)K, 1.0f, x, (int)K,
                w, N, 0.0f, y, N);
    return;
  }
  if (is_single(g)) {
    single_fwd(x, w, y, g);
    return;
  }
  const size_t step = chunk_rows(g);
  for (size_t m0 = 0; m0 < M; m0 += step) {
    const size_t m1 = m0 + step < M ? m0 + step : M;
    im2col_rows(x, col, g, m0, m1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m1 - m0), N, (int)K, 1.0f, col,
                (int)K, w, N, 0.0f, y + m0 * N, N);
  }
}

void gn__conv_bwd_input(const float *dy, const float *w, float *dx, const int *g, float *col) {
  const size_t M = gn__rows(g), K = gn__k(g);
  const int N = g[CO_];
  if (gn__pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, N, 1.0f, dy, N, w, N,
                0.0f, dx, (int)K);
    return;
  }
  if (is_single(g)) {
    single_bwd_input(dy, w, dx, g);
    return;
  }
  memset(dx, 0, (size_t)g[B_] * g[H_] * g[W_] * g[C_] * sizeof(float));
  const size_t step = chunk_rows(g);
  for (size_t m0 = 0; m0 < M; m0 += step) {
    const size_t m1 = m0 + step < M ? m0 + step : M;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m1 - m0), (int)K, N, 1.0f,
                dy + m0 * N, N, w, N, 0.0f, col, (int)K);
    col2im_rows(col, dx, g, m0, m1);
  }
}

void gn__conv_bwd_filter(const float *x, const float *dy, float *dw, const int *g, float *col) {
  const size_t M = gn__rows(g), K = gn__k(g);
  const int N = g[CO_];
  if (gn__pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, N, (int)M, 1.0f, x, (int)K, dy,
                N, 0.0f, dw, N);
    return;
  }
  if (is_single(g)) {
    single_bwd_filter(x, dy, dw, g);
    return;
  }
  const size_t step = chunk_rows(g);
  for (size_t m0 = 0; m0 < M; m0 += step) {
    const size_t m1 = m0 + step < M ? m0 + step : M;
    im2col_rows(x, col, g, m0, m1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, N, (int)(m1 - m0), 1.0f, col,
                (int)K, dy + m0 * N, N, m0 == 0 ? 0.0f : 1.0f, dw, N);
  }
}

/** y[B,OH,OW,CO] = conv(x, w). Returns 0, or -1 when out of memory. */
int gn_conv2d(const float *x, const float *w, float *y, const int *g) {
  float *col = gn__scratch(gn__col_floats(g));
  if (gn__col_floats(g) && !col) return -1;
  gn__conv_fwd(x, w, y, g, col);
  return 0;
}

/** dx[B,H,W,C] = gradient of conv(x, w) w.r.t. x given dy. Also a transposed conv. */
int gn_conv2d_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  float *col = gn__scratch(gn__col_floats(g));
  if (gn__col_floats(g) && !col) return -1;
  gn__conv_bwd_input(dy, w, dx, g, col);
  return 0;
}

/** dw[KH,KW,C,CO] = gradient of conv(x, w) w.r.t. w given dy. */
int gn_conv2d_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  float *col = gn__scratch(gn__col_floats(g));
  if (gn__col_floats(g) && !col) return -1;
  gn__conv_bwd_filter(x, dy, dw, g, col);
  return 0;
}

/**
 * c[batch, m, n] = op(a) · op(b) where op transposes when ta/tb; a batch
 * stride of 0 broadcasts that operand.
 */
void gn_matmul(const float *a, const float *b, float *c, int batch, int m, int n, int k, int ta,
               int tb, int stride_a, int stride_b) {
  for (int i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1.0f, a + (size_t)i * stride_a, ta ? m : k, b + (size_t)i * stride_b,
                tb ? k : n, 0.0f, c + (size_t)i * m * n, n);
  }
}
