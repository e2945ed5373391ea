/* Direct convolutions for thin layers, stride 1: at most 4 input channels
 * and 8, 16, 24 or 32 outputs (D's stem reads the image), or at most 4
 * output channels and a multiple of 8 inputs (G's head draws it). As
 * im2col + GEMM these spent their time copying 1-3 floats per tap and in
 * GEMMs with N or K of 1-27, where OpenBLAS runs at a tenth of its speed.
 * Here the wide side runs in 8-float vectors held in registers: the
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

/* Eight floats: one AVX register, or two SSE/NEON ones. */
typedef float v8 __attribute__((vector_size(32)));

static inline v8 load8(const float *p) {
  v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

static inline v8 splat(float s) { return (v8){s, s, s, s, s, s, s, s}; }

/* a·b + c; fused where the CPU has FMA (-std=c11 never fuses on its own). */
static inline v8 fma8(v8 a, v8 b, v8 c) {
#ifdef __FMA__
  return (v8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}

static inline float hsum(v8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

#define NARROW 4

/* Few inputs, outputs in 1-4 whole vectors: vectors over co. */
static int narrow_in(GnGeo g) { return g.C <= NARROW && g.CO % 8 == 0 && g.CO <= 8 * NARROW; }
/* Few outputs, inputs in whole vectors: vectors over c. */
static int narrow_out(GnGeo g) { return g.CO <= NARROW && g.C % 8 == 0; }

int gn__thin(const int *g) {
  const GnGeo t = gn__geo(g);
  return g[SH_] == 1 && g[SW_] == 1 && (narrow_in(t) || narrow_out(t));
}

static size_t taps_of(GnGeo g) { return (size_t)g.KH * g.KW; }

size_t gn__thin_floats(const int *g) {
  const GnGeo t = gn__geo(g);
  return taps_of(t) * t.C * t.CO * ((size_t)t.B + 1);
}

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
  v8 acc0[NARROW], acc1[NARROW];
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
        const v8 x0 = splat(in0 ? xs[c] : 0.0f), x1 = splat(in1 ? xs[g.C + c] : 0.0f);
        for (int k = 0; k < NV; k++) {
          const v8 wv = load8(wk + c * g.CO + 8 * k);
          acc0[k] = fma8(x0, wv, acc0[k]);
          if (pair) acc1[k] = fma8(x1, wv, acc1[k]);
        }
      }
    }
  }
  for (int k = 0; k < NV; k++) {
    store8(yr + (size_t)ox * g.CO + 8 * k, acc0[k]);
    if (pair) store8(yr + (size_t)(ox + 1) * g.CO + 8 * k, acc1[k]);
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

/* NP output pixels from ox, every tap inside: a tap row's KW·C inputs are
 * contiguous, so with C a constant they run as one loop of broadcasts,
 * each against the NV weight vectors loaded once for the NP pixels. */
ALWAYS_INLINE void in_fwd_inner(const float *x, const float *w, float *yr, GnGeo g, int b, int oy,
                                int ox, const int C, const int NV, const int NP) {
  v8 acc[8][NARROW];
  for (int p = 0; p < NP; p++) {
    for (int k = 0; k < NV; k++) acc[p][k] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *xs = in_row(x, g, b, oy - g.PT + ky) + (ptrdiff_t)(ox - g.PL) * C;
    const float *wk = w + (size_t)ky * g.KW * C * 8 * NV;
    for (int j = 0; j < g.KW * C; j++) {
      v8 wv[NARROW];
      for (int k = 0; k < NV; k++) wv[k] = load8(wk + (size_t)j * 8 * NV + 8 * k);
      for (int p = 0; p < NP; p++) {
        const v8 xv = splat(xs[p * C + j]);
        for (int k = 0; k < NV; k++) acc[p][k] = fma8(xv, wv[k], acc[p][k]);
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int k = 0; k < NV; k++) store8(yr + (size_t)(ox + p) * 8 * NV + 8 * k, acc[p][k]);
  }
}

/* Pixels per inner block: as many as the vector registers hold beside the
 * weights (32 with AVX-512: D's stem 40 % faster than with 2 pixels). */
#ifdef __AVX512VL__
#define IN_NP(NV) ((NV) >= 3 ? 5 : 8)
#else
#define IN_NP(NV) ((NV) >= 3 ? 2 : 8 / (NV))
#endif

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
  v8 acc[NARROW];
  for (int c = 0; c < C; c++) acc[c] = splat(0.0f);
  EACH_TAP_OF_INPUT(g, iy, ix, {
    const float *d = out_row(dy, g, b, oy) + (size_t)ox * g.CO;
    const float *wk = w + ((size_t)ky * g.KW + kx) * C * g.CO;
    for (int k = 0; k < g.CO; k += 8) {
      const v8 dv = load8(d + k);
      for (int c = 0; c < C; c++) acc[c] = fma8(dv, load8(wk + c * g.CO + k), acc[c]);
    }
  })
  for (int c = 0; c < C; c++) dr[(size_t)ix * C + c] = hsum(acc[c]);
}

/* NP input pixels from ix, read by every tap: NP·C independent sums (one
 * pixel's C alone wait on each other's FMA latency), the C weight vectors
 * loaded once for the NP pixels. */
ALWAYS_INLINE void in_bwd_inner(const float *dy, const float *w, float *dr, GnGeo g, int b, int iy,
                                int ix, const int C, const int NP) {
  v8 acc[8][NARROW];
  for (int p = 0; p < NP; p++) {
    for (int c = 0; c < C; c++) acc[p][c] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *drow = out_row(dy, g, b, iy + g.PT - ky);
    for (int kx = 0; kx < g.KW; kx++) {
      const float *d = drow + (size_t)(ix + g.PL - kx) * g.CO;
      const float *wk = w + ((size_t)ky * g.KW + kx) * C * g.CO;
      for (int k = 0; k < g.CO; k += 8) {
        v8 wv[NARROW];
        for (int c = 0; c < C; c++) wv[c] = load8(wk + c * g.CO + k);
        for (int p = 0; p < NP; p++) {
          const v8 dv = load8(d + (size_t)p * g.CO + k);
          for (int c = 0; c < C; c++) acc[p][c] = fma8(dv, wv[c], acc[p][c]);
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
  v8 acc[NARROW][NARROW];
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
        const v8 dv = load8(d + 8 * k);
        for (int c = 0; c < C; c++) acc[c][k] = fma8(splat(xs[c]), dv, acc[c][k]);
      }
    }
  }
  for (int c = 0; c < C; c++) {
    for (int k = 0; k < NV; k++) store8(a + c * g.CO + 8 * k, acc[c][k]);
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
  v8 acc0[NARROW], acc1[NARROW];
  for (int co = 0; co < CO; co++) acc0[co] = acc1[co] = splat(0.0f);
  const v8 zero = splat(0.0f);
  for (int ky = 0; ky < g.KH; ky++) {
    const int iy = oy - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = in_row(x, g, b, iy);
    for (int kx = 0; kx < g.KW; kx++) {
      const int ix = ox - g.PL + kx;
      const int in0 = ix >= 0 && ix < g.W, in1 = pair && ix + 1 >= 0 && ix + 1 < g.W;
      const float *xs = xr + (ptrdiff_t)ix * g.C;
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C;
      for (int k = 0; k < g.C; k += 8) {
        const v8 x0 = in0 ? load8(xs + k) : zero, x1 = in1 ? load8(xs + g.C + k) : zero;
        for (int co = 0; co < CO; co++) {
          const v8 wv = load8(wk + co * g.C + k);
          acc0[co] = fma8(x0, wv, acc0[co]);
          if (pair) acc1[co] = fma8(x1, wv, acc1[co]);
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
  v8 acc[8][NARROW];
  for (int p = 0; p < NP; p++) {
    for (int co = 0; co < CO; co++) acc[p][co] = splat(0.0f);
  }
  for (int ky = 0; ky < g.KH; ky++) {
    const float *xs = in_row(x, g, b, oy - g.PT + ky) + (ptrdiff_t)(ox - g.PL) * g.C;
    for (int kx = 0; kx < g.KW; kx++) {
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C;
      for (int k = 0; k < g.C; k += 8) {
        for (int co = 0; co < CO; co++) {
          const v8 wv = load8(wk + co * g.C + k);
          for (int p = 0; p < NP; p++) {
            acc[p][co] = fma8(load8(xs + (size_t)(p + kx) * g.C + k), wv, acc[p][co]);
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
  for (int k = 0; k < g.C; k += 8) {
    v8 acc = splat(0.0f);
    EACH_TAP_OF_INPUT(g, iy, ix, {
      const float *d = out_row(dy, g, b, oy) + (size_t)ox * CO;
      const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C + k;
      for (int co = 0; co < CO; co++) acc = fma8(splat(d[co]), load8(wk + co * g.C), acc);
    })
    store8(dr + (size_t)ix * g.C + k, acc);
  }
}

/* NP input pixels from ix, read by every tap: NP independent sums per 8
 * inputs instead of one chain of FMAs. */
ALWAYS_INLINE void out_bwd_inner(const float *dy, const float *wt, float *dr, GnGeo g, int b,
                                 int iy, int ix, const int CO, const int NP) {
  for (int k = 0; k < g.C; k += 8) {
    v8 acc[8];
    for (int p = 0; p < NP; p++) acc[p] = splat(0.0f);
    for (int ky = 0; ky < g.KH; ky++) {
      const float *drow = out_row(dy, g, b, iy + g.PT - ky);
      for (int kx = 0; kx < g.KW; kx++) {
        const float *d = drow + (size_t)(ix + g.PL - kx) * CO;
        const float *wk = wt + ((size_t)ky * g.KW + kx) * CO * g.C + k;
        for (int co = 0; co < CO; co++) {
          const v8 wv = load8(wk + co * g.C);
          for (int p = 0; p < NP; p++) acc[p] = fma8(splat(d[p * CO + co]), wv, acc[p]);
        }
      }
    }
    for (int p = 0; p < NP; p++) store8(dr + (size_t)(ix + p) * g.C + k, acc[p]);
  }
}

ALWAYS_INLINE void out_bwd_input(const float *dy, const float *wt, float *dx, GnGeo g, int b,
                                 const int CO) {
  BY_INPUT_BLOCKS(out_bwd_px, out_bwd_inner, 8, dy, wt, dx, g, b, CO)
}

/* a[co][k..k+8·KC) = image b's sum of x(tap)[k..k+8·KC) · dy[co] for tap
 * (ky, kx), the KC·CO sums in registers over the pixels in order (as
 * in_filter_tap); KC vectors at once so that the FMAs of one pixel do not
 * wait on each other. */
ALWAYS_INLINE void out_filter_tap(const float *x, const float *dy, float *a, GnGeo g, int b, int ky,
                                  int kx, int k, const int CO, const int KC) {
  v8 acc[2][NARROW];
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
        const v8 xv = load8(xr + (size_t)ox * g.C + 8 * kc);
        for (int co = 0; co < CO; co++) acc[kc][co] = fma8(splat(d[co]), xv, acc[kc][co]);
      }
    }
  }
  for (int kc = 0; kc < KC; kc++) {
    for (int co = 0; co < CO; co++) store8(a + co * g.C + k + 8 * kc, acc[kc][co]);
  }
}

/* part[tap][co][c] = image b's sum of x(tap)[c] · dy[co], a tap and 16 inputs at a time. */
ALWAYS_INLINE void out_filter(const float *x, const float *dy, float *part, GnGeo g, int b,
                              const int CO) {
  for (int ky = 0; ky < g.KH; ky++) {
    for (int kx = 0; kx < g.KW; kx++) {
      float *a = part + ((size_t)ky * g.KW + kx) * CO * g.C;
      int k = 0;
      for (; k + 16 <= g.C; k += 16) out_filter_tap(x, dy, a, g, b, ky, kx, k, CO, 2);
      if (k < g.C) out_filter_tap(x, dy, a, g, b, ky, kx, k, CO, 1);
    }
  }
}

/* ---- One image of each pass, by kind and narrow count. ---- */

enum { FWD, BWD_INPUT, FILTER };

/* Calls f(a, b, out, g, image, N) with N a constant 1..4, so f's loops unroll. */
#define BY_COUNT(f, n, a, bb, out, g, image) \
  switch (n) {                               \
    case 1: f(a, bb, out, g, image, 1); break; \
    case 2: f(a, bb, out, g, image, 2); break; \
    case 3: f(a, bb, out, g, image, 3); break; \
    default: f(a, bb, out, g, image, 4); break; \
  }

static void in_image(int pass, const float *a, const float *w, float *out, GnGeo g, int b) {
  if (pass == FWD) BY_COUNT(in_fwd, g.CO / 8, a, w, out, g, b)
  else if (pass == BWD_INPUT) BY_COUNT(in_bwd_input, g.C, a, w, out, g, b)
  else BY_COUNT(in_filter, g.CO / 8, a, w, out, g, b)
}

static void out_image(int pass, const float *a, const float *w, float *out, GnGeo g, int b) {
  if (pass == FWD) BY_COUNT(out_fwd, g.CO, a, w, out, g, b)
  else if (pass == BWD_INPUT) BY_COUNT(out_bwd_input, g.CO, a, w, out, g, b)
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

/* The pass over every image on the team: a is x (FWD, FILTER) or dy
 * (BWD_INPUT); b is w, or dy for FILTER; out gets image b's part at
 * out + b·per (per = 0: one shared output indexed by image inside). */
static void each_image(int pass, const float *a, const float *b, float *out, size_t per, GnGeo g) {
  const double flops = 2.0 * g.B * g.OH * g.OW * (double)taps_of(g) * g.C * g.CO;
  const int team = gn__team(5.0 * flops);
  ImageJob job = {a, b, out, per, g, pass, !narrow_in(g)};
  gn__parallel(team < g.B ? team : g.B, image_part, &job);
}

/* Entry points (conv.c dispatches here when gn__thin); scratch holds
 * gn__thin_floats(g) floats. */

void gn__thin_fwd(const float *x, const float *w, float *y, const int *gi, float *scratch) {
  const GnGeo g = gn__geo(gi);
  if (!narrow_in(g)) gn__transpose_taps(w, scratch, taps_of(g), g.C, g.CO), w = scratch;
  each_image(FWD, x, w, y, 0, g);
}

void gn__thin_bwd_input(const float *dy, const float *w, float *dx, const int *gi,
                        float *scratch) {
  const GnGeo g = gn__geo(gi);
  if (!narrow_in(g)) gn__transpose_taps(w, scratch, taps_of(g), g.C, g.CO), w = scratch;
  each_image(BWD_INPUT, dy, w, dx, 0, g);
}

void gn__thin_bwd_filter(const float *x, const float *dy, float *dw, const int *gi,
                         float *scratch) {
  const GnGeo g = gn__geo(gi);
  const size_t kn = taps_of(g) * g.C * g.CO;
  each_image(FILTER, x, dy, scratch, kn, g);
  /* The images' parts in image order, then into dw's [tap][c][co]. */
  if (narrow_in(g)) {
    gn__sum_parts(scratch, g.B, kn, dw);
    return;
  }
  float *sum = scratch + (size_t)g.B * kn;
  gn__sum_parts(scratch, g.B, kn, sum);
  gn__transpose_taps(sum, dw, taps_of(g), g.CO, g.C);
}
