/*
 * glyphnet native kernels: NHWC convolutions as im2col + OpenBLAS sgemm, a
 * fused conv -> batch norm (batch statistics) -> swish/sigmoid block with its
 * backward pass, batched matmul and an in-place Adam step. Called from Deno
 * through FFI (lib/backend/native/ffi.ts); every buffer is owned by the
 * caller except the scratch arena below.
 *
 * Conv geometry, int g[GN_GEOM] (the convolution in its forward direction):
 *   B, H, W, C (input), KH, KW, CO (filter HWIO), OH, OW (output),
 *   SH, SW (strides), PT, PL (padding before, top and left).
 * A transposed convolution is the backward-input pass of the conv whose
 * "input" is its output: same geometry, roles swapped.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
#endif

enum { B_, H_, W_, C_, KH_, KW_, CO_, OH_, OW_, SH_, SW_, PT_, PL_, GN_GEOM };

/* The one piece of global state: a scratch arena that only grows, reused by
 * every call (JS calls are synchronous and single-threaded). */
static float *arena = NULL;
static size_t arena_cap = 0;

/* Returns scratch for n floats, or NULL when out of memory. */
static float *scratch(size_t n) {
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

/** Bytes held by the scratch arena. */
double gn_arena_bytes(void) { return (double)arena_cap * sizeof(float); }

static int is_pointwise(const int *g) {
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

/* col[M, KH*KW*C] from x[B,H,W,C]; rows are output pixels. */
static void im2col(const float *x, float *col, const int *g) {
  const int H = g[H_], W = g[W_], C = g[C_], KH = g[KH_], KW = g[KW_];
  const int OH = g[OH_], OW = g[OW_];
  const size_t K = (size_t)KH * KW * C;
  for (int b = 0; b < g[B_]; b++) {
    const float *xb = x + (size_t)b * H * W * C;
    for (int oy = 0; oy < OH; oy++) {
      for (int ox = 0; ox < OW; ox++) {
        float *row = col + (((size_t)b * OH + oy) * OW + ox) * K;
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
  }
}

/* dx[B,H,W,C] = sum of col[M, K] scattered back (dx zeroed here). */
static void col2im(const float *col, float *dx, const int *g) {
  const int H = g[H_], W = g[W_], C = g[C_], KH = g[KH_], KW = g[KW_];
  const int OH = g[OH_], OW = g[OW_];
  const size_t K = (size_t)KH * KW * C;
  memset(dx, 0, (size_t)g[B_] * H * W * C * sizeof(float));
  for (int b = 0; b < g[B_]; b++) {
    float *xb = dx + (size_t)b * H * W * C;
    for (int oy = 0; oy < OH; oy++) {
      for (int ox = 0; ox < OW; ox++) {
        const float *row = col + (((size_t)b * OH + oy) * OW + ox) * K;
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
  }
}

static size_t rows_of(const int *g) { return (size_t)g[B_] * g[OH_] * g[OW_]; }
static size_t k_of(const int *g) { return (size_t)g[KH_] * g[KW_] * g[C_]; }

/* The input as im2col rows: x itself for a pointwise conv, else in `buf`. */
static const float *columns(const float *x, float *buf, const int *g) {
  if (is_pointwise(g)) return x;
  im2col(x, buf, g);
  return buf;
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

/** y[B,OH,OW,CO] = conv(x, w). Returns 0, or -1 when out of memory. */
int gn_conv2d(const float *x, const float *w, float *y, const int *g) {
  if (is_single(g)) {
    single_fwd(x, w, y, g);
    return 0;
  }
  const size_t M = rows_of(g), K = k_of(g);
  float *buf = is_pointwise(g) ? NULL : scratch(M * K);
  if (!is_pointwise(g) && !buf) return -1;
  const float *col = columns(x, buf, g);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, g[CO_], (int)K, 1.0f, col,
              (int)K, w, g[CO_], 0.0f, y, g[CO_]);
  return 0;
}

/** dx[B,H,W,C] = gradient of conv(x, w) w.r.t. x given dy. Also a transposed conv. */
int gn_conv2d_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  if (is_single(g)) {
    single_bwd_input(dy, w, dx, g);
    return 0;
  }
  const size_t M = rows_of(g), K = k_of(g);
  if (is_pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, g[CO_], 1.0f, dy,
                g[CO_], w, g[CO_], 0.0f, dx, (int)K);
    return 0;
  }
  float *col = scratch(M * K);
  if (!col) return -1;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, g[CO_], 1.0f, dy, g[CO_],
              w, g[CO_], 0.0f, col, (int)K);
  col2im(col, dx, g);
  return 0;
}

/** dw[KH,KW,C,CO] = gradient of conv(x, w) w.r.t. w given dy. */
int gn_conv2d_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  if (is_single(g)) {
    single_bwd_filter(x, dy, dw, g);
    return 0;
  }
  const size_t M = rows_of(g), K = k_of(g);
  float *buf = is_pointwise(g) ? NULL : scratch(M * K);
  if (!is_pointwise(g) && !buf) return -1;
  const float *col = columns(x, buf, g);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, g[CO_], (int)M, 1.0f, col,
              (int)K, dy, g[CO_], 0.0f, dw, g[CO_]);
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

/*
 * exp(x) for float, branch-free so loops over it vectorise: Cody-Waite range
 * reduction and a degree-6 Taylor polynomial (relative error ~2e-7), inputs
 * clamped to [-87, 88]. glibc's expf is scalar and was half of the block's
 * batch-norm time.
 */
static inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = floorf(x * 1.44269504f + 0.5f);
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187e-06f;
  const float p =
      1.0f +
      r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f +
                                                   r * (0.008333334f + r * 0.0013888889f)))));
  const int32_t e = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

static inline float sigmoid_fast(float a) { return 1.0f / (1.0f + fast_exp(-a)); }

/* Rows per block of float partial sums before they go into doubles. */
#define ROW_BLOCK 64

/*
 * Per-channel sum and sum of squares of (y[i, c] - shift[c]) over M rows of
 * C channels, in double (floats within blocks of ROW_BLOCK rows).
 */
static void channel_moments(const float *y, size_t M, int C, const float *shift, double *s,
                            double *s2) {
  float *ps = (float *)malloc(2 * (size_t)C * sizeof(float));
  float *ps2 = ps + C;
  for (size_t i0 = 0; i0 < M; i0 += ROW_BLOCK) {
    const size_t i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M;
    for (int c = 0; c < C; c++) ps[c] = ps2[c] = 0.0f;
    for (size_t i = i0; i < i1; i++) {
      const float *r = y + i * C;
      for (int c = 0; c < C; c++) {
        const float d = r[c] - shift[c];
        ps[c] += d;
        ps2[c] += d * d;
      }
    }
    for (int c = 0; c < C; c++) {
      s[c] += ps[c];
      s2[c] += ps2[c];
    }
  }
  free(ps);
}

/*
 * Batch norm + activation of z = y + bias over y[M, C], in place: writes
 * xhat (normalised z), the batch mean and (biased) variance of z, and
 * y = act(xhat·gamma + beta). The bias only shifts the mean, so it is
 * never added to y.
 */
static void bn_act_fwd(float *y, size_t M, int C, const float *bias, const float *gamma,
                       const float *beta, float *xhat, float *mean, float *var, int act,
                       float eps) {
  double *acc = (double *)calloc(2 * (size_t)C, sizeof(double));
  float *fm = (float *)malloc(3 * (size_t)C * sizeof(float));
  double *s = acc, *s2 = acc + C;
  float *shift = fm, *scale = fm + C, *offset = fm + 2 * C;
  /* Shifting by the first row keeps the one-pass variance accurate. */
  for (int c = 0; c < C; c++) shift[c] = y[c];
  channel_moments(y, M, C, shift, s, s2);
  for (int c = 0; c < C; c++) {
    const double m = s[c] / (double)M;
    const double v = s2[c] / (double)M - m * m;
    const double vv = v > 0 ? v : 0;
    const double inv = 1.0 / sqrt(vv + eps);
    mean[c] = (float)(shift[c] + m + bias[c]);
    var[c] = (float)vv;
    scale[c] = (float)inv;
    offset[c] = (float)(-(shift[c] + m) * inv);
  }
  for (size_t i = 0; i < M; i++) {
    float *r = y + i * C, *h = xhat + i * C;
    if (act == 0) {
      for (int c = 0; c < C; c++) {
        const float n = r[c] * scale[c] + offset[c];
        const float a = n * gamma[c] + beta[c];
        h[c] = n;
        r[c] = a * sigmoid_fast(a);
      }
    } else {
      for (int c = 0; c < C; c++) {
        const float n = r[c] * scale[c] + offset[c];
        h[c] = n;
        r[c] = sigmoid_fast(n * gamma[c] + beta[c]);
      }
    }
  }
  free(acc);
  free(fm);
}

/*
 * Backward of bn_act_fwd: dz[M, C] from dy, plus dgamma, dbeta and dbias
 * (the column sums of dz).
 */
static void bn_act_bwd(const float *dy, const float *xhat, const float *var, const float *gamma,
                       const float *beta, size_t M, int C, int act, float eps, float *dz,
                       float *dgamma, float *dbeta, float *dbias) {
  double *acc = (double *)calloc(3 * (size_t)C, sizeof(double));
  float *k = (float *)malloc(5 * (size_t)C * sizeof(float));
  double *sg = acc, *sb = acc + C, *sz = acc + 2 * C;
  float *k1 = k, *k2 = k + C, *k3 = k + 2 * C, *pg = k + 3 * C, *pb = k + 4 * C;
  for (size_t i0 = 0; i0 < M; i0 += ROW_BLOCK) {
    const size_t i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M;
    for (int c = 0; c < C; c++) pg[c] = pb[c] = 0.0f;
    for (size_t i = i0; i < i1; i++) {
      const float *h = xhat + i * C, *d = dy + i * C;
      float *o = dz + i * C;
      if (act == 0) {
        for (int c = 0; c < C; c++) {
          const float a = h[c] * gamma[c] + beta[c];
          const float sa = sigmoid_fast(a);
          const float da = d[c] * sa * (1.0f + a * (1.0f - sa));
          o[c] = da;
          pb[c] += da;
          pg[c] += da * h[c];
        }
      } else {
        for (int c = 0; c < C; c++) {
          const float sa = sigmoid_fast(h[c] * gamma[c] + beta[c]);
          const float da = d[c] * sa * (1.0f - sa);
          o[c] = da;
          pb[c] += da;
          pg[c] += da * h[c];
        }
      }
    }
    for (int c = 0; c < C; c++) {
      sg[c] += pg[c];
      sb[c] += pb[c];
    }
  }
  /* dz = gamma·invstd·(da − mean(da) − xhat·mean(da·xhat)) */
  for (int c = 0; c < C; c++) {
    dgamma[c] = (float)sg[c];
    dbeta[c] = (float)sb[c];
    const double g = gamma[c] / sqrt((double)var[c] + eps);
    k1[c] = (float)g;
    k2[c] = (float)(g * sb[c] / (double)M);
    k3[c] = (float)(g * sg[c] / (double)M);
  }
  for (size_t i0 = 0; i0 < M; i0 += ROW_BLOCK) {
    const size_t i1 = i0 + ROW_BLOCK < M ? i0 + ROW_BLOCK : M;
    for (int c = 0; c < C; c++) pb[c] = 0.0f;
    for (size_t i = i0; i < i1; i++) {
      const float *h = xhat + i * C;
      float *o = dz + i * C;
      for (int c = 0; c < C; c++) {
        o[c] = k1[c] * o[c] - k2[c] - h[c] * k3[c];
        pb[c] += o[c];
      }
    }
    for (int c = 0; c < C; c++) sz[c] += pb[c];
  }
  for (int c = 0; c < C; c++) dbias[c] = (float)sz[c];
  free(acc);
  free(k);
}

/*
 * Fused block forward. transpose = 0: y = act(BN(conv(x, w) + bias)), y and
 * xhat [B,OH,OW,CO]. transpose = 1: the transposed conv of x [B,OH,OW,CO]
 * with w [KH,KW,C,CO] gives [B,H,W,C]; y and xhat have that shape and
 * mean/var have C entries. act: 0 swish, 1 sigmoid. Returns 0 or -1 (OOM).
 */
int gn_block_fwd(const float *x, const float *w, const float *bias, const float *gamma,
                 const float *beta, float *y, float *xhat, float *mean, float *var,
                 const int *g, int transpose, int act, float eps) {
  size_t M;
  int C;
  if (transpose) {
    if (gn_conv2d_bwd_input(x, w, y, g)) return -1;
    M = (size_t)g[B_] * g[H_] * g[W_];
    C = g[C_];
  } else {
    if (gn_conv2d(x, w, y, g)) return -1;
    M = rows_of(g);
    C = g[CO_];
  }
  bn_act_fwd(y, M, C, bias, gamma, beta, xhat, mean, var, act, eps);
  return 0;
}

/**
 * Fused block backward, from what gn_block_fwd saved (xhat, var) and the
 * output gradient dy: dx, dw, dbias, dgamma, dbeta. Returns 0 or -1 (OOM).
 */
int gn_block_bwd(const float *x, const float *w, const float *gamma, const float *beta,
                 const float *xhat, const float *var, const float *dy, float *dx, float *dw,
                 float *dbias, float *dgamma, float *dbeta, const int *g, int transpose, int act,
                 float eps) {
  const size_t Mc = rows_of(g), K = k_of(g);
  const size_t M = transpose ? (size_t)g[B_] * g[H_] * g[W_] : Mc;
  const int C = transpose ? g[C_] : g[CO_];
  const int pw = is_pointwise(g);
  /* dz is [M, C]; transposed blocks also need im2col(dz) [Mc, K]. */
  const size_t need = M * C + (pw ? 0 : Mc * K);
  float *dz = scratch(need);
  if (!dz) return -1;
  float *col = dz + M * C;
  bn_act_bwd(dy, xhat, var, gamma, beta, M, C, act, eps, dz, dgamma, dbeta, dbias);
  if (transpose) {
    /* out = conv^T(x): dx = conv(dz, w); dw = im2col(dz)^T · x. */
    const float *cz = columns(dz, col, g);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mc, g[CO_], (int)K, 1.0f, cz,
                (int)K, w, g[CO_], 0.0f, dx, g[CO_]);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, g[CO_], (int)Mc, 1.0f, cz,
                (int)K, x, g[CO_], 0.0f, dw, g[CO_]);
  } else {
    const float *cx = columns(x, col, g);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, g[CO_], (int)Mc, 1.0f, cx,
                (int)K, dz, g[CO_], 0.0f, dw, g[CO_]);
    if (pw) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Mc, (int)K, g[CO_], 1.0f, dz,
                  g[CO_], w, g[CO_], 0.0f, dx, (int)K);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Mc, (int)K, g[CO_], 1.0f, dz,
                  g[CO_], w, g[CO_], 0.0f, col, (int)K);
      col2im(col, dx, g);
    }
  }
  return 0;
}

/**
 * One Adam step in place on value, m and v (n floats):
 * m = b1·m + (1−b1)·g; v = b2·v + (1−b2)·g²; value −= a · m / (sqrt(v) + e).
 * Keras's form is a = lr·sqrt(1−b2^t)/(1−b1^t), e = eps; tfjs's is the same
 * a with e = eps·sqrt(1−b2^t).
 */
void gn_adam(float *value, const float *grad, float *m, float *v, int n, float a, float b1,
             float b2, float e) {
  for (int i = 0; i < n; i++) {
    const float gi = grad[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    value[i] -= a * mi / (sqrtf(vi) + e);
  }
}

/**
 * out[i] = a[i % na] op b[i % nb] for i < n, where na and nb divide n (a
 * trailing broadcast). op: 0 add, 1 subtract, 2 multiply.
 */
void gn_binary(int op, const float *a, int na, const float *b, int nb, float *out, int n) {
  if (na == n && nb == n) {
    if (op == 0) for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
    if (op == 1) for (int i = 0; i < n; i++) out[i] = a[i] - b[i];
    if (op == 2) for (int i = 0; i < n; i++) out[i] = a[i] * b[i];
    return;
  }
  if (na == 1 || nb == 1) {
    const float s = na == 1 ? a[0] : b[0];
    const float *v = na == 1 ? b : a;
    if (op == 0) for (int i = 0; i < n; i++) out[i] = v[i] + s;
    if (op == 1 && nb == 1) for (int i = 0; i < n; i++) out[i] = v[i] - s;
    if (op == 1 && na == 1) for (int i = 0; i < n; i++) out[i] = s - v[i];
    if (op == 2) for (int i = 0; i < n; i++) out[i] = v[i] * s;
    return;
  }
  for (int base = 0; base < n; base += (na < nb ? na : nb)) {
    const int len = na < nb ? na : nb;
    const float *pa = na == n || na > len ? a + (base % na) : a;
    const float *pb = nb == n || nb > len ? b + (base % nb) : b;
    float *po = out + base;
    if (op == 0) for (int i = 0; i < len; i++) po[i] = pa[i] + pb[i];
    if (op == 1) for (int i = 0; i < len; i++) po[i] = pa[i] - pb[i];
    if (op == 2) for (int i = 0; i < len; i++) po[i] = pa[i] * pb[i];
  }
}

/* One row of a broadcast binary op: strides 0 (repeat) or 1 per operand. */
static void binary_row(int op, const float *a, int sa, const float *b, int sb, float *o, int n) {
  for (int i = 0; i < n; i++) {
    const float x = a[i * sa], y = b[i * sb];
    o[i] = op == 0 ? x + y : (op == 1 ? x - y : x * y);
  }
}

/**
 * General broadcasting binary op. d = [rank, out shape (rank), a strides
 * (rank), b strides (rank)], strides 0 on broadcast dimensions, rank <= 8.
 */
void gn_binary_bcast(int op, const float *a, const float *b, float *out, const int *d) {
  const int rank = d[0];
  const int *shape = d + 1, *sa = d + 1 + rank, *sb = d + 1 + 2 * rank;
  const int inner = shape[rank - 1];
  size_t rows = 1;
  for (int k = 0; k < rank - 1; k++) rows *= (size_t)shape[k];
  int idx[8] = {0};
  for (size_t r = 0; r < rows; r++) {
    size_t oa = 0, ob = 0;
    for (int k = 0; k < rank - 1; k++) {
      oa += (size_t)idx[k] * sa[k];
      ob += (size_t)idx[k] * sb[k];
    }
    binary_row(op, a + oa, sa[rank - 1], b + ob, sb[rank - 1], out + r * inner, inner);
    for (int k = rank - 2; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

/**
 * out = transpose(x, perm). d = [rank, x shape (rank), perm (rank)], rank <= 8.
 * Walks the output in order, reading x with permuted strides.
 */
void gn_transpose(const float *x, float *out, const int *d) {
  const int rank = d[0];
  const int *shape = d + 1, *perm = d + 1 + rank;
  size_t xs[8], os[8], stride = 1;
  int oshape[8];
  for (int k = rank - 1; k >= 0; k--) {
    xs[k] = stride;
    stride *= (size_t)shape[k];
  }
  for (int k = 0; k < rank; k++) {
    oshape[k] = shape[perm[k]];
    os[k] = xs[perm[k]];
  }
  const int inner = oshape[rank - 1];
  const size_t step = os[rank - 1];
  size_t rows = 1;
  for (int k = 0; k < rank - 1; k++) rows *= (size_t)oshape[k];
  int idx[8] = {0};
  for (size_t r = 0; r < rows; r++) {
    size_t off = 0;
    for (int k = 0; k < rank - 1; k++) off += (size_t)idx[k] * os[k];
    const float *src = x + off;
    float *dst = out + r * inner;
    if (step == 1) {
      memcpy(dst, src, (size_t)inner * sizeof(float));
    } else {
      for (int i = 0; i < inner; i++) dst[i] = src[(size_t)i * step];
    }
    for (int k = rank - 2; k >= 0; k--) {
      if (++idx[k] < oshape[k]) break;
      idx[k] = 0;
    }
  }
}
