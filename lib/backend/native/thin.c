/* Direct convolutions for thin layers, stride 1: at most 4 input channels
 * and 8, 16, 24 or 32 outputs (D's stem reads the image), or at most 4
 * output channels and a multiple of 8 inputs (G's head draws it). As
 * im2col + GEMM these spent their time copying 1-3 floats per tap and in
 * GEMMs with N or K of 1-27, where OpenBLAS runs at a tenth of its speed.
 * Here the wide side runs in vectors held in registers (8 floats, or 16
 * where AVX-512 has them and the count divides: thin16.c), and the
 * functions marked ALWAYS_INLINE are compiled once per count of narrow
 * channels or vectors, so their small loops unroll. Pixels whose taps all
 * lie inside the image (all but a one-pixel frame) run several at a time
 * without bounds tests: enough independent sums to hide the FMAs' latency,
 * which one pixel's 1-4 sums left the vector units waiting on.
 *
 * Every output value is summed in one fixed order, and dw adds per-image
 * parts in image order, so the thread count never changes a bit. */
#include "glyphnet.h"
#ifdef __FMA__
#include <immintrin.h>
#endif

/* Floats per vector: 8 (one AVX register, or two SSE/NEON ones) here; thin16.c
 * compiles this file again with 16 (one AVX-512 register) and THIN naming
 * its entry points gn__thin16_*. */
#ifndef VW
#define VW 8
#define THIN(name) gn__thin_##name
#endif

typedef float vf __attribute__((vector_size(4 * VW)));

static inline vf load(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf splat(float s) {
#if VW == 16
  return (vf){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
#else
  return (vf){s, s, s, s, s, s, s, s};
#endif
}

/* a·b + c; fused where the CPU has FMA (-std=c11 never fuses on its own). */
static inline vf fma_v(vf a, vf b, vf c) {
#if VW == 16
  return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__)
  return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}

/* The lanes' sum: 16 lanes fold to 8, then the same tree as 8-float vectors. */
static inline float hsum(vf v) {
#if VW == 16
  typedef float h8 __attribute__((vector_size(32)));
  const __m512d d = (__m512d)v;
  const h8 h = (h8)_mm512_castpd512_pd256(d) + (h8)_mm512_extractf64x4_pd(d, 1);
#else
  const vf h = v;
#endif
  return ((h[0] + h[1]) + (h[2] + h[3])) + ((h[4] + h[5]) + (h[6] + h[7]));
}

#define NARROW 4
/* Vectors on the wide side of a narrow-input layer: up to 32 outputs. */
#define NV_MAX (8 * NARROW / VW)

/* Few inputs, outputs in 1-4 whole vectors: vectors over co. */
static int narrow_in(GnGeo g) { return g.C <= NARROW && g.CO % VW == 0 && g.CO <= 8 * NARROW; }
/* Few outputs, inputs in whole vectors: vectors over c. */
static int narrow_out(GnGeo g) { return g.CO <= NARROW && g.C % VW == 0; }

int THIN(fits)(const int *g, int pass) {
  const GnGeo t = gn__geo(g);
  if (g[SH_] != 1 || g[SW_] != 1) return 0;
#if VW == 16
  /* Where 16 floats gained: D's stem forward 8.9 -> 6.7 ms and G's head
   * input gradient 6.6 -> 4.3 at B 128. The filter gradients' 16-float
   * sums waited on each other (stem 10.7 -> 13.1), and the head's forward
   * adds 16 lanes for each output (8.3 -> 10.8): those stay at 8. */
  return (narrow_in(t) && pass == GN_FWD) || (narrow_out(t) && pass == GN_BWD_INPUT);
#else
  (void)pass;
  return narrow_in(t) || narrow_out(t);
#endif
}

static size_t taps_of(GnGeo g) { return (size_t)g.KH * g.KW; }

#if VW == 8
size_t gn__thin_floats(const int *g) {
  const GnGeo t = gn__geo(g);
  return taps_of(t) * t.C * t.CO * ((size_t)t.B + 1);
}
#endif

/* Rows of image b: input row iy, output row oy (pixel 0 of the row). */
static inline const float *in_row(const float *x, GnGeo g, int b, int iy) {
  return x + ((size_t)b * g.H + iy) * g.W * g.C;
}
static inline const float *out_row(const float *y, GnGeo g, int b, int oy) {
  return y + ((size_t)b * g.OH + oy) * g.OW * g.CO;
}

/* Runs the block for each tap (ky, kx) of output pixel (oy, ox) that lands
 * inside the input, at input pixel (iy, ix). */
#define EACH_TAP_OF_OUTPUT(g, oy, ox, ...)        \
  for (int ky = 0; ky < (g).KH; ky++) {           \
    const int iy = (oy) - (g).PT + ky;            \
    if (iy < 0 || iy >= (g).H) continue;          \
    for (int kx = 0; kx < (g).KW; kx++) {         \
      const int ix = (ox) - (g).PL + kx;          \
      if (ix < 0 || ix >= (g).W) continue;        \
      __VA_ARGS__                                 \
    }                                             \
  }

/* Runs the block for each tap (ky, kx) that reads input pixel (iy, ix),
 * from output pixel (oy, ox). */
#define EACH_TAP_OF_INPUT(g, iy, ix, ...)         \
  for (int ky = 0; ky < (g).KH; ky++) {           \
    const int oy = (iy) + (g).PT - ky;            \
    if (oy < 0 || oy >= (g).OH) continue;         \
    for (int kx = 0; kx < (g).KW; kx++) {         \
      const int ox = (ix) + (g).PL - kx;          \
      if (ox < 0 || ox >= (g).OW) continue;       \
      __VA_ARGS__                                 \
    }                                             \
  }

/* ---- Few inputs (c < C <= 4), co in NV vectors; w is [tap][c][co]. ---- */

/* Output pixels ox and ox + 1 (when pair) of row oy: two pixels at a time
 * give the FMAs two independent chains and share the weight loads. */
ALWAYS_INLINE void in_fwd_px(const float *x, const float *w, float *yr, GnGeo g, int b, int oy,
                             int ox, const int pair, const int NV) {
  vf acc0[NV_MAX], acc1[NV_MAX];
  for (int k = 0; k < NV; k++) acc0[k] = acc1[k] = splat(0.0f);
  for (int ky = 0; ky < g.KH; ky++) {
    const int iy = oy - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = in_row(x, g, b, iy);
    for (int kx = 0; kx < g.KW; kx++) {
      const int ix = ox - g.PL + kx;
      const int in0 = ix >= 0 && ix < g.W, in1 = pair && ix + 1 >= 0 && ix + 1 < g.W;
      const float *xs = xr + (ptrdiff_t)ix * g.C;
      const float *wk = w + ((size_t)ky * g.KW + kx) * g.C * g.CO;
      for (int c = 0; c < g.C; c++) {
        const vf x0 = splat(in0 ? xs[c] : 0.0f), x1 = splat(in1 ? xs[g.C + c] : 0.0f);
        for (int k = 0; k < NV; k++) {
          const vf wv = load(wk + c * g.CO + VW * k);
          acc0[k] = fma_v(x0, wv, acc0[k]);
          if (pair) acc1[k] = fma_v(x1, wv, acc1[k]);
        }
      }
    }
  }
  for (int k = 0; k < NV; k++) {
    store(yr + (size_t)ox * g.CO + VW * k, acc0[k]);
    if (pair) store(yr + (size_t)(ox + 1) * g.CO + VW * k, acc1[k]);
  }
}

/* Runs image b's output pixels: those whose taps all lie inside the input
 * NP at a time by inner(x, w, row, g, b, oy, ox, n, NP), which needs no
 * bounds tests; the rest by px(x, w, row, g, b, oy, ox, pair, n), two at a
 * time. Both sum each output in the same order, so the split changes no bit. */
#define BY_BLOCKS(px, inner, NP, x, w, y, g, b, n)                             \
  for (int oy = 0; oy < (g).OH; oy++) {                                       \
    float *row_ = (float *)out_row(y, g, b, oy);                              \
    int lo_, hi_, ox_ = 0;                                                    \
    gn__inner_range(g, oy, &lo_, &hi_);                                        \
    for (; ox_ < lo_; ox_++) px(x, w, row_, g, b, oy, ox_, 0, n);             \
    for (; ox_ + (NP) <= hi_; ox_ += (NP)) inner(x, w, row_, g, b, oy, ox_, n, NP); \
    for (; ox_ + 1 < (g).OW; ox_ += 2) px(x, w, row_, g, b, oy, ox_, 1, n);    \
    if (ox_ < (g).OW) px(x, w, row_, g, b, oy, ox_, 0, n);                    \
  }

/* Pixels per inner block: as many as the vector registers hold beside the
 * weights (32 with AVX-512: D's stem 40 % faster than with 2 pixels). */
#if VW == 16
#define IN_NP(NV) 8
#elif defined(__AVX512VL__)
#define IN_NP(NV) ((NV) >= 3 ? 5 : 8)
#else
#define IN_NP(NV) ((NV) >= 3 ? 2 : 8 / (NV))
#endif

/* NP output pixels from ox, every tap inside: a tap row's KW·C inputs are
 * contiguous, so with C a constant they run as one loop of broadcasts,
 * each against the NV weight vectors loaded once for the NP pixels. */
ALWAYS_INLINE void in_fwd_inner(const float *x, const float *w, float *yr, GnGeo g, int b, int oy,
                                int ox, const int C, const int NV, const int NP) {
  vf acc[8][NV_MAX];
  for (int p = 0; p < NP; p++) {
    for (int k = 0; k < NV; k++) acc[p][k] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *xs = in_row(x, g, b, oy - g.PT + ky) + (ptrdiff_t)(ox - g.PL) * C;
    const float *wk = w + (size_t)ky * g.KW * C * VW * NV;
    for (int j = 0; j < g.KW * C; j++) {
      vf wv[NV_MAX];
      for (int k = 0; k < NV; k++) wv[k] = load(wk + (size_t)j * VW * NV + VW * k);
      for (int p = 0; p < NP; p++) {
        const vf xv = splat(xs[p * C + j]);
        for (int k = 0; k < NV; k++) acc[p][k] = fma_v(xv, wv[k], acc[p][k]);
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int k = 0; k < NV; k++) store(yr + (size_t)(ox + p) * VW * NV + VW * k, acc[p][k]);
  }
}

ALWAYS_INLINE void in_fwd_c(const float *x, const float *w, float *y, GnGeo g, int b, const int NV,
                            const int C) {
#define IN_INNER(x, w, row, g, b, oy, ox, n, NP) in_fwd_inner(x, w, row, g, b, oy, ox, C, n, NP)
  BY_BLOCKS(in_fwd_px, IN_INNER, IN_NP(NV), x, w, y, g, b, NV)
#undef IN_INNER
}

ALWAYS_INLINE void in_fwd(const float *x, const float *w, float *y, GnGeo g, int b, const int NV) {
  switch (g.C) {
    case 1: in_fwd_c(x, w, y, g, b, NV, 1); break;
    case 2: in_fwd_c(x, w, y, g, b, NV, 2); break;
    case 3: in_fwd_c(x, w, y, g, b, NV, 3); break;
    default: in_fwd_c(x, w, y, g, b, NV, 4); break;
  }
}

/* Input pixels [lo, hi) of row iy are read by every tap (an empty range
 * when some tap's output row lies outside): gn__inner_range's counterpart for
 * the backward-input passes. */
static inline void inner_input_range(GnGeo g, int iy, int *lo, int *hi) {
  *lo = *hi = 0;
  if (iy + g.PT - (g.KH - 1) < 0 || iy + g.PT >= g.OH) return;
  *lo = g.KW - 1 - g.PL > 0 ? g.KW - 1 - g.PL : 0;
  *hi = g.OW - g.PL < g.W ? g.OW - g.PL : g.W;
  if (*hi < *lo) *hi = *lo;
}

/* Runs image b's input pixels as BY_BLOCKS runs output pixels: the inner
 * ones NP at a time by inner(dy, w, row, g, b, iy, ix, n, NP), the rest one
 * at a time by px(dy, w, row, g, b, iy, ix, n). */
#define BY_INPUT_BLOCKS(px, inner, NP, dy, w, dx, g, b, n)                        \
  for (int iy = 0; iy < (g).H; iy++) {                                           \
    float *row_ = (float *)in_row(dx, g, b, iy);                                 \
    int lo_, hi_, ix_ = 0;                                                       \
    inner_input_range(g, iy, &lo_, &hi_);                                        \
    for (; ix_ < lo_; ix_++) px(dy, w, row_, g, b, iy, ix_, n);                  \
    for (; ix_ + (NP) <= hi_; ix_ += (NP)) inner(dy, w, row_, g, b, iy, ix_, n, NP); \
    for (; ix_ < (g).W; ix_++) px(dy, w, row_, g, b, iy, ix_, n);                \
  }

ALWAYS_INLINE void in_bwd_px(const float *dy, const float *w, float *dr, GnGeo g, int b, int iy,
                             int ix, const int C) {
  vf acc[NARROW];
  for (int c = 0; c < C; c++) acc[c] = splat(0.0f);
  EACH_TAP_OF_INPUT(g, iy, ix, {
    const float *d = out_row(dy, g, b, oy) + (size_t)ox * g.CO;
    const float *wk = w + ((size_t)ky * g.KW + kx) * C * g.CO;
    for (int k = 0; k < g.CO; k += VW) {
      const vf dv = load(d + k);
      for (int c = 0; c < C; c++) acc[c] = fma_v(dv, load(wk + c * g.CO + k), acc[c]);
    }
  })
  for (int c = 0; c < C; c++) dr[(size_t)ix * C + c] = hsum(acc[c]);
}

/* NP input pixels from ix, read by every tap: NP·C independent sums (one
 * pixel's C alone wait on each other's FMA latency), the C weight vectors
 * loaded once for the NP pixels. */
ALWAYS_INLINE void in_bwd_inner(const float *dy, const float *w, float *dr, GnGeo g, int b, int iy,
                                int ix, const int C, const int NP) {
  vf acc[8][NARROW];
  for (int p = 0; p < NP; p++) {
    for (int c = 0; c < C; c++) acc[p][c] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *drow = out_row(dy, g, b, iy + g.PT - ky);
    for (int kx = 0; kx < g.KW; kx++) {
      const float *d = drow + (size_t)(ix + g.PL - kx) * g.CO;
      const float *wk = w + ((size_t)ky * g.KW + kx) * C * g.CO;
      for (int k = 0; k < g.CO; k += VW) {
        vf wv[NARROW];
        for (int c = 0; c < C; c++) wv[c] = load(wk + c * g.CO + k);
        for (int p = 0; p < NP; p++) {
          const vf dv = load(d + (size_t)p * g.CO + k);
          for (int c = 0; c < C; c++) acc[p][c] = fma_v(dv, wv[c], acc[p][c]);
        }
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int c = 0; c < C; c++) dr[(size_t)(ix + p) * C + c] = hsum(acc[p][c]);
  }
}

#define IN_BWD_NP(C) ((C) == 1 ? 8 : (C) == 2 ? 4 : (C) == 3 ? 3 : 2)

ALWAYS_INLINE void in_bwd_input(const float *dy, const float *w, float *dx, GnGeo g, int b,
                                const int C) {
  BY_INPUT_BLOCKS(in_bwd_px, in_bwd_inner, IN_BWD_NP(C), dy, w, dx, g, b, C)
}

/* a[c][co] = image b's sum of x(tap)[c] · dy[co] for tap (ky, kx): all C·NV
 * sums in registers over the image's pixels in order (the same order, and
 * so the same bits, as one memory accumulator per weight, at half the cost). */
ALWAYS_INLINE void in_filter_tap(const float *x, const float *dy, float *a, GnGeo g, int b, int ky,
                                 int kx, const int C, const int NV) {
  vf acc[NARROW][NV_MAX];
  for (int c = 0; c < C; c++) {
    for (int k = 0; k < NV; k++) acc[c][k] = splat(0.0f);
  }
  /* The output columns whose input column ox - PL + kx lies inside. */
  const int ox0 = g.PL - kx > 0 ? g.PL - kx : 0;
  const int ox1 = g.W + g.PL - kx < g.OW ? g.W + g.PL - kx : g.OW;
  for (int oy = 0; oy < g.OH; oy++) {
    const int iy = oy - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = in_row(x, g, b, iy) + (ptrdiff_t)(kx - g.PL) * C;
    const float *dyr = out_row(dy, g, b, oy);
    for (int ox = ox0; ox < ox1; ox++) {
      const float *xs = xr + (size_t)ox * C, *d = dyr + (size_t)ox * g.CO;
      for (int k = 0; k < NV; k++) {
        const vf dv = load(d + VW * k);
        for (int c = 0; c < C; c++) acc[c][k] = fma_v(splat(xs[c]), dv, acc[c][k]);
      }
    }
  }
  for (int c = 0; c < C; c++) {
    for (int k = 0; k < NV; k++) store(a + c * g.CO + VW * k, acc[c][k]);
  }
}

/* part[tap][c][co] = image b's sum of x(tap)[c] · dy[co], a tap at a time. */
ALWAYS_INLINE void in_filter(const float *x, const float *dy, float *part, GnGeo g, int b,
                             const int NV) {
  for (int ky = 0; ky < g.KH; ky++) {
    for (int kx = 0; kx < g.KW; kx++) {
      float *a = part + ((size_t)ky * g.KW + kx) * g.C * g.CO;
      switch (g.C) {
        case 1: in_filter_tap(x, dy, a, g, b, ky, kx, 1, NV); break;
        case 2: in_filter_tap(x, dy, a, g, b, ky, kx, 2, NV); break;
        case 3: in_filter_tap(x, dy, a, g, b, ky, kx, 3, NV); break;
        default: in_filter_tap(x, dy, a, g, b, ky, kx, 4, NV); break;
      }
    }
  }
}

/* ---- Few outputs (co < CO <= 4), c in vectors; wt is w as [tap][co][c]. ---- */

/* Output pixels ox and ox + 1 (when pair) of row oy, as in_fwd_px. */
ALWAYS_INLINE void out_fwd_px(const float *x, const float *wt, float *yr, GnGeo g, int b, int oy,
                              int ox, const int pair, const int CO) {
  vf acc0[NARROW], acc1[NARROW];
  for (int co = 0; co < CO; co++) acc0[co] = acc1[co] = splat(0.0f);
  const vf zero = splat(0.0f);
  for (int ky = 0; ky < g.KH; ky++) {
    const int iy = oy - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = in_row(x, g, b, iy);
    for (int kx = 0; kx < g.KW; kx++) {
      const int ix = ox - g.PL + kx;
      const int in0 = ix >= 0 && ix < g.W, in1 = pair && ix + 1 >= 0 && ix + 1 < g.W;
      const float *xs = xr + (ptrdiff_t)ix * g.C;
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C;
      for (int k = 0; k < g.C; k += VW) {
        const vf x0 = in0 ? load(xs + k) : zero, x1 = in1 ? load(xs + g.C + k) : zero;
        for (int co = 0; co < CO; co++) {
          const vf wv = load(wk + co * g.C + k);
          acc0[co] = fma_v(x0, wv, acc0[co]);
          if (pair) acc1[co] = fma_v(x1, wv, acc1[co]);
        }
      }
    }
  }
  for (int co = 0; co < CO; co++) {
    yr[(size_t)ox * CO + co] = hsum(acc0[co]);
    if (pair) yr[(size_t)(ox + 1) * CO + co] = hsum(acc1[co]);
  }
}

/* NP output pixels from ox, every tap inside (as in_fwd_inner): each weight
 * vector is loaded once for the NP pixels. */
ALWAYS_INLINE void out_fwd_inner(const float *x, const float *wt, float *yr, GnGeo g, int b,
                                 int oy, int ox, const int CO, const int NP) {
  vf acc[8][NARROW];
  for (int p = 0; p < NP; p++) {
    for (int co = 0; co < CO; co++) acc[p][co] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *xs = in_row(x, g, b, oy - g.PT + ky) + (ptrdiff_t)(ox - g.PL) * g.C;
    for (int kx = 0; kx < g.KW; kx++) {
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C;
      for (int k = 0; k < g.C; k += VW) {
        for (int co = 0; co < CO; co++) {
          const vf wv = load(wk + co * g.C + k);
          for (int p = 0; p < NP; p++) {
            acc[p][co] = fma_v(load(xs + (size_t)(p + kx) * g.C + k), wv, acc[p][co]);
          }
        }
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int co = 0; co < CO; co++) yr[(size_t)(ox + p) * CO + co] = hsum(acc[p][co]);
  }
}

/* Pixels per inner block: 12 accumulators at most. */
#define OUT_NP(CO) ((CO) == 1 ? 8 : 12 / (CO))

ALWAYS_INLINE void out_fwd(const float *x, const float *wt, float *y, GnGeo g, int b,
                           const int CO) {
  BY_BLOCKS(out_fwd_px, out_fwd_inner, OUT_NP(CO), x, wt, y, g, b, CO)
}

ALWAYS_INLINE void out_bwd_px(const float *dy, const float *wt, float *dr, GnGeo g, int b,
                              int iy, int ix, const int CO) {
  for (int k = 0; k < g.C; k += VW) {
    vf acc = splat(0.0f);
    EACH_TAP_OF_INPUT(g, iy, ix, {
      const float *d = out_row(dy, g, b, oy) + (size_t)ox * CO;
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C + k;
      for (int co = 0; co < CO; co++) acc = fma_v(splat(d[co]), load(wk + co * g.C), acc);
    })
    store(dr + (size_t)ix * g.C + k, acc);
  }
}

/* NP input pixels from ix, read by every tap: NP independent sums per vector of
 * inputs instead of one chain of FMAs. */
ALWAYS_INLINE void out_bwd_inner(const float *dy, const float *wt, float *dr, GnGeo g, int b,
                                 int iy, int ix, const int CO, const int NP) {
  for (int k = 0; k < g.C; k += VW) {
    vf acc[8];
    for (int p = 0; p < NP; p++) acc[p] = splat(0.0f);
    for (int ky = 0; ky < g.KH; ky++) {
      const float *drow = out_row(dy, g, b, iy + g.PT - ky);
      for (int kx = 0; kx < g.KW; kx++) {
        const float *d = drow + (size_t)(ix + g.PL - kx) * CO;
        const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C + k;
        for (int co = 0; co < CO; co++) {
          const vf wv = load(wk + co * g.C);
          for (int p = 0; p < NP; p++) acc[p] = fma_v(splat(d[p * CO + co]), wv, acc[p]);
        }
      }
    }
    for (int p = 0; p < NP; p++) store(dr + (size_t)(ix + p) * g.C + k, acc[p]);
  }
}

ALWAYS_INLINE void out_bwd_input(const float *dy, const float *wt, float *dx, GnGeo g, int b,
                                 const int CO) {
  BY_INPUT_BLOCKS(out_bwd_px, out_bwd_inner, 8, dy, wt, dx, g, b, CO)
}

/* a[co][k..k+VW·KC) = image b's sum of x(tap)[k..k+VW·KC) · dy[co] for tap
 * (ky, kx), the KC·CO sums in registers over the pixels in order (as
 * in_filter_tap); KC vectors at once so that the FMAs of one pixel do not
 * wait on each other. */
ALWAYS_INLINE void out_filter_tap(const float *x, const float *dy, float *a, GnGeo g, int b, int ky,
                                  int kx, int k, const int CO, const int KC) {
  vf acc[2][NARROW];
  for (int kc = 0; kc < KC; kc++) {
    for (int co = 0; co < CO; co++) acc[kc][co] = splat(0.0f);
  }
  const int ox0 = g.PL - kx > 0 ? g.PL - kx : 0;
  const int ox1 = g.W + g.PL - kx < g.OW ? g.W + g.PL - kx : g.OW;
  for (int oy = 0; oy < g.OH; oy++) {
    const int iy = oy - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = in_row(x, g, b, iy) + (ptrdiff_t)(kx - g.PL) * g.C + k;
    const float *dyr = out_row(dy, g, b, oy);
    for (int ox = ox0; ox < ox1; ox++) {
      const float *d = dyr + (size_t)ox * CO;
      for (int kc = 0; kc < KC; kc++) {
        const vf xv = load(xr + (size_t)ox * g.C + VW * kc);
        for (int co = 0; co < CO; co++) acc[kc][co] = fma_v(splat(d[co]), xv, acc[kc][co]);
      }
    }
  }
  for (int kc = 0; kc < KC; kc++) {
    for (int co = 0; co < CO; co++) store(a + co * g.C + k + VW * kc, acc[kc][co]);
  }
}

/* part[tap][co][c] = image b's sum of x(tap)[c] · dy[co], a tap and two vectors of inputs at a time. */
ALWAYS_INLINE void out_filter(const float *x, const float *dy, float *part, GnGeo g, int b,
                              const int CO) {
  for (int ky = 0; ky < g.KH; ky++) {
    for (int kx = 0; kx < g.KW; kx++) {
      float *a = part + ((size_t)ky * g.KW + kx) * CO * g.C;
      int k = 0;
      for (; k + 2 * VW <= g.C; k += 2 * VW) out_filter_tap(x, dy, a, g, b, ky, kx, k, CO, 2);
      if (k < g.C) out_filter_tap(x, dy, a, g, b, ky, kx, k, CO, 1);
    }
  }
}

/* ---- One image of each pass, by kind and narrow count. ---- */

/* Calls f(a, b, out, g, image, N) with N a constant 1..4, so f's loops unroll. */
#define BY_COUNT(f, n, a, bb, out, g, image) \
  switch (n) {                               \
    case 1: f(a, bb, out, g, image, 1); break; \
    case 2: f(a, bb, out, g, image, 2); break; \
    case 3: f(a, bb, out, g, image, 3); break; \
    default: f(a, bb, out, g, image, 4); break; \
  }

/* BY_COUNT for a count of vectors, 1 to NV_MAX. */
#if NV_MAX == 2
#define BY_VECTORS(f, n, a, bb, out, g, image) \
  if ((n) == 1) f(a, bb, out, g, image, 1);    \
  else f(a, bb, out, g, image, 2);
#else
#define BY_VECTORS BY_COUNT
#endif

static void in_image(int pass, const float *a, const float *w, float *out, GnGeo g, int b) {
  if (pass == GN_FWD) {
    BY_VECTORS(in_fwd, g.CO / VW, a, w, out, g, b)
  } else if (pass == GN_BWD_INPUT) {
    BY_COUNT(in_bwd_input, g.C, a, w, out, g, b)
  } else {
    BY_VECTORS(in_filter, g.CO / VW, a, w, out, g, b)
  }
}

static void out_image(int pass, const float *a, const float *w, float *out, GnGeo g, int b) {
  if (pass == GN_FWD) BY_COUNT(out_fwd, g.CO, a, w, out, g, b)
  else if (pass == GN_BWD_INPUT) BY_COUNT(out_bwd_input, g.CO, a, w, out, g, b)
  else BY_COUNT(out_filter, g.CO, a, w, out, g, b)
}

typedef struct {
  const float *a, *b;
  float *out;
  size_t per;
  GnGeo g;
  int pass, out_kind;
} ImageJob;

/* Part t's share of the images. */
static void image_part(void *p, int t, int nt) {
  const ImageJob *j = p;
  size_t lo, hi;
  gn__split((size_t)j->g.B, nt, t, &lo, &hi);
  for (int i = (int)lo; i < (int)hi; i++) {
    float *o = j->out + (size_t)i * j->per;
    if (j->out_kind) {
      out_image(j->pass, j->a, j->b, o, j->g, i);
    } else {
      in_image(j->pass, j->a, j->b, o, j->g, i);
    }
  }
}

/* The pass over every image on the team: a is x (GN_FWD, GN_BWD_FILTER) or dy
 * (GN_BWD_INPUT); b is w, or dy for GN_BWD_FILTER; out gets image b's part at
 * out + b·per (per = 0: one shared output indexed by image inside). */
static void each_image(int pass, const float *a, const float *b, float *out, size_t per, GnGeo g) {
  const double flops = 2.0 * g.B * g.OH * g.OW * (double)taps_of(g) * g.C * g.CO;
  const int team = gn__team(5.0 * flops);
  ImageJob job = {a, b, out, per, g, pass, !narrow_in(g)};
  gn__parallel(team < g.B ? team : g.B, image_part, &job);
}

/* Entry points (conv.c dispatches here when THIN(fits)); scratch holds
 * gn__thin_floats(g) floats. */

void THIN(fwd)(const float *x, const float *w, float *y, const int *gi, float *scratch) {
  const GnGeo g = gn__geo(gi);
  if (!narrow_in(g)) gn__transpose_taps(w, scratch, taps_of(g), g.C, g.CO), w = scratch;
  each_image(GN_FWD, x, w, y, 0, g);
}

void THIN(bwd_input)(const float *dy, const float *w, float *dx, const int *gi,
                        float *scratch) {
  const GnGeo g = gn__geo(gi);
  if (!narrow_in(g)) gn__transpose_taps(w, scratch, taps_of(g), g.C, g.CO), w = scratch;
  each_image(GN_BWD_INPUT, dy, w, dx, 0, g);
}

void THIN(bwd_filter)(const float *x, const float *dy, float *dw, const int *gi,
                         float *scratch) {
  const GnGeo g = gn__geo(gi);
  const size_t kn = taps_of(g) * g.C * g.CO;
  each_image(GN_BWD_FILTER, x, dy, scratch, kn, g);
  /* The images' parts in image order, then into dw's [tap][c][co]. */
  if (narrow_in(g)) {
    gn__sum_parts(scratch, g.B, kn, dw);
    return;
  }
  float *sum = scratch + (size_t)g.B * kn;
  gn__sum_parts(scratch, g.B, kn, sum);
  gn__transpose_taps(sum, dw, taps_of(g), g.CO, g.C);
}
