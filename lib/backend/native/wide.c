/* Direct convolutions in AVX-512 registers, for layers whose outputs fill
 * 16-float vectors and whose inputs are not thin (thin.c): D's 64→32 conv,
 * G's 32→64 transposed conv and the 1×1 convs, all three passes (where
 * each measured faster than the GEMM path; see gn__wide). As im2col +
 * sgemm these copied every input value 9 times (im2col), then OpenBLAS
 * copied the copy again (packing), and with 16-32 outputs the copies took
 * about as long as the multiplies. Here 12 pixels × 32 outputs sit in 24
 * of the 32 registers, and each input value is broadcast once from memory
 * against two weight vectors: the 64→32 conv's forward pass ran at 160-173
 * GFLOP/s on one Zen 5 core in a stand-alone test, against 100 through
 * sgemm.
 *
 * Every output sums its terms in an order fixed by its position (in the
 * blocks and at the edges alike), and one part computes it, so the thread
 * count never changes a bit. Without AVX-512 the GEMM path runs instead. */
#include "glyphnet.h"

#ifdef __AVX512F__
#include <immintrin.h>

/* Calls f(args..., n) with n (1-11) as a constant, so its loops unroll. */
#define BY_REST(n, f, ...)                 \
  switch (n) {                             \
    case 1: f(__VA_ARGS__, 1); break;      \
    case 2: f(__VA_ARGS__, 2); break;      \
    case 3: f(__VA_ARGS__, 3); break;      \
    case 4: f(__VA_ARGS__, 4); break;      \
    case 5: f(__VA_ARGS__, 5); break;      \
    case 6: f(__VA_ARGS__, 6); break;      \
    case 7: f(__VA_ARGS__, 7); break;      \
    case 8: f(__VA_ARGS__, 8); break;      \
    case 9: f(__VA_ARGS__, 9); break;      \
    case 10: f(__VA_ARGS__, 10); break;    \
    case 11: f(__VA_ARGS__, 11); break;    \
    default: break;                        \
  }

/* Where it beat the GEMM path, pass by pass on the default config's layers
 * at B 128 (bench/README.md): outputs in whole vectors and at least 8
 * inputs; 1×1 convs up to 128 outputs (sgemm with K of 16-128 is bound by
 * memory), wider kernels up to 32 outputs and 576 floats a patch. With 64
 * outputs each input is broadcast twice and the 32→16 conv took 12 ms
 * against sgemm's 10; with 128, the 16×16 conv took 14 against 9.7. */
int gn__wide(const int *g) {
  if (g[CO_] % 16 || g[C_] < 8) return 0;
  const int taps = g[KH_] * g[KW_];
  return taps == 1 ? g[CO_] <= 128 : g[CO_] <= 32 && taps * g[C_] <= 576;
}

/* The filter gradient only gained on images of 32×32 outputs or more; below,
 * its runs along a row are too short to pay for loading dw's sums. */
int gn__wide_dw(const int *g) { return gn__wide(g) && g[OH_] * g[OW_] >= 1024; }

/* Outputs [co, co + 16·NV) of NP pixels from ox, whose taps stay inside the
 * input's width; tap rows above or below it are skipped (they read zeros). */
ALWAYS_INLINE void block(const float *x, const float *w, float *yr, GnGeo g, int b, int oy, int ox,
                         int co, const int NV, const int NP) {
  __m512 acc[12][2];
  for (int p = 0; p < NP; p++) {
    for (int v = 0; v < NV; v++) acc[p][v] = _mm512_setzero_ps();
  }
  const size_t step = (size_t)g.SW * g.C;
  for (int ky = 0; ky < g.KH; ky++) {
    const int iy = oy * g.SH - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    const float *xr = x + (((size_t)b * g.H + iy) * g.W + (size_t)(ox * g.SW - g.PL)) * g.C;
    for (int kx = 0; kx < g.KW; kx++) {
      const float *xp = xr + (size_t)kx * g.C;
      const float *wk = w + ((size_t)ky * g.KW + kx) * g.C * g.CO + co;
      for (int c = 0; c < g.C; c++) {
        __m512 wv[2];
        for (int v = 0; v < NV; v++) wv[v] = _mm512_loadu_ps(wk + (size_t)c * g.CO + 16 * v);
        for (int p = 0; p < NP; p++) {
          const __m512 xv = _mm512_set1_ps(xp[p * step + c]);
          for (int v = 0; v < NV; v++) acc[p][v] = _mm512_fmadd_ps(xv, wv[v], acc[p][v]);
        }
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int v = 0; v < NV; v++) {
      _mm512_storeu_ps(yr + (size_t)(ox + p) * g.CO + co + 16 * v, acc[p][v]);
    }
  }
}

/* Every output of NP pixels from ox, 32 at a time, then 16. */
ALWAYS_INLINE void blocks(const float *x, const float *w, float *yr, GnGeo g, int b, int oy, int ox,
                          const int NP) {
  int co = 0;
  for (; co + 32 <= g.CO; co += 32) block(x, w, yr, g, b, oy, ox, co, 2, NP);
  if (co < g.CO) block(x, w, yr, g, b, oy, ox, co, 1, NP);
}

/* acc[k mod 4] += v[k] · the vector at w + k·stride, for k < n: an edge
 * pixel's sums in four chains, so its FMAs do not wait on each other. */
static inline void dot4(const float *v, const float *w, size_t stride, int n, __m512 acc[4]) {
  for (int k = 0; k < n; k++) {
    acc[k & 3] = _mm512_fmadd_ps(_mm512_set1_ps(v[k]), _mm512_loadu_ps(w + k * stride), acc[k & 3]);
  }
}

static inline __m512 sum4(const __m512 acc[4]) {
  return _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
}

/* Output pixel ox, whose taps may leave the input: those are skipped (the
 * zero padding they read adds nothing); four partial sums per output
 * vector (dot4), added at the end. */
static void edge_pixel(const float *x, const float *w, float *yr, GnGeo g, int b, int oy, int ox) {
  for (int co = 0; co < g.CO; co += 16) {
    __m512 acc[4];
    for (int k = 0; k < 4; k++) acc[k] = _mm512_setzero_ps();
    for (int ky = 0; ky < g.KH; ky++) {
      const int iy = oy * g.SH - g.PT + ky;
      if (iy < 0 || iy >= g.H) continue;
      for (int kx = 0; kx < g.KW; kx++) {
        const int ix = ox * g.SW - g.PL + kx;
        if (ix < 0 || ix >= g.W) continue;
        const float *xp = x + (((size_t)b * g.H + iy) * g.W + ix) * g.C;
        const float *wk = w + ((size_t)ky * g.KW + kx) * g.C * g.CO + co;
        dot4(xp, wk, g.CO, g.C, acc);
      }
    }
    _mm512_storeu_ps(yr + (size_t)ox * g.CO + co, sum4(acc));
  }
}

/* The n < 12 inner pixels left after the blocks of 12, as one block. */
static void rest_block(const float *x, const float *w, float *yr, GnGeo g, int b, int oy, int ox,
                       int n) {
  BY_REST(n, blocks, x, w, yr, g, b, oy, ox)
}

static void output_row(const float *x, const float *w, float *y, GnGeo g, int b, int oy) {
  float *yr = y + ((size_t)b * g.OH + oy) * g.OW * g.CO;
  int lo, hi, ox = 0;
  gn__inner_columns(g, &lo, &hi);
  for (; ox < lo; ox++) edge_pixel(x, w, yr, g, b, oy, ox);
  for (; ox + 12 <= hi; ox += 12) blocks(x, w, yr, g, b, oy, ox, 12);
  if (ox < hi) rest_block(x, w, yr, g, b, oy, ox, hi - ox), ox = hi;
  for (; ox < g.OW; ox++) edge_pixel(x, w, yr, g, b, oy, ox);
}

/* A pass over the B·n rows of its output, row(in, w, out, g, b, r) for each. */
typedef void (*RowFn)(const float *in, const float *w, float *out, GnGeo g, int b, int r);

typedef struct {
  const float *in, *w;
  float *out;
  GnGeo g;
  int n;
  RowFn row;
} RowsJob;

/* Part t's share of the rows. */
static void rows_part(void *p, int t, int nt) {
  const RowsJob *j = p;
  size_t lo, hi;
  gn__split((size_t)j->g.B * j->n, nt, t, &lo, &hi);
  for (size_t r = lo; r < hi; r++) {
    j->row(j->in, j->w, j->out, j->g, (int)(r / j->n), (int)(r % j->n));
  }
}

/* The team for a pass of this convolution: sized by its multiply-adds. */
static int team_of(GnGeo g) {
  return gn__team(2.0 * g.B * g.OH * g.OW * (double)g.KH * g.KW * g.C * g.CO);
}

static void each_row(RowFn row, int n, const float *in, const float *w, float *out, GnGeo g) {
  RowsJob job = {in, w, out, g, n, row};
  gn__parallel(team_of(g), rows_part, &job);
}

void gn__wide_fwd(const float *x, const float *w, float *y, const int *gi) {
  const GnGeo g = gn__geo(gi);
  each_row(output_row, g.OH, x, w, y, g);
}

/* ---- The input gradient (a transposed convolution's forward pass) ----
 * dx[iy, ix, c] sums dy[oy, ox, co] · w[ky, kx, c, co] over the taps whose
 * output (oy, ox) = ((iy + PT − ky) / SH, (ix + PL − kx) / SW) is whole and
 * inside: vectors over c, weights transposed to [ky][kx][co][c]. Pixels of
 * a row with the same remainder of ix + PL mod SW share their taps, so the
 * blocks take every SW-th pixel: 12 of them read 12 neighbouring outputs. */

int gn__wide_t(const int *g) {
  return g[C_] % 16 == 0 && g[C_] <= 128 && g[CO_] >= 8 &&
         (size_t)g[KH_] * g[KW_] * g[CO_] <= 576;
}

/* Whether tap offset t = i + P − k is a whole output index below n; its index into *o. */
static inline int lands(int t, int S, int n, int *o) {
  if (t < 0 || t % S) return 0;
  *o = t / S;
  return *o < n;
}

/* Whether every tap that input column ix reads lies inside dy's row. */
static int inner_column(GnGeo g, int ix) {
  for (int kx = 0; kx < g.KW; kx++) {
    const int t = ix + g.PL - kx;
    int ox;
    if (t % g.SW == 0 && !lands(t, g.SW, g.OW, &ox)) return 0;
  }
  return 1;
}

/* dx[iy, ix + p·SW, c0 .. c0 + 16·NV) for p < NP, every column inside. */
ALWAYS_INLINE void block_t(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy,
                           int ix, int c0, const int NV, const int NP) {
  __m512 acc[12][2];
  for (int p = 0; p < NP; p++) {
    for (int v = 0; v < NV; v++) acc[p][v] = _mm512_setzero_ps();
  }
  for (int ky = 0; ky < g.KH; ky++) {
    int oy;
    if (!lands(iy + g.PT - ky, g.SH, g.OH, &oy)) continue;
    const float *dyr = dy + ((size_t)b * g.OH + oy) * g.OW * g.CO;
    for (int kx = 0; kx < g.KW; kx++) {
      const int t = ix + g.PL - kx;
      if (t < 0 || t % g.SW) continue;
      const float *dp = dyr + (size_t)(t / g.SW) * g.CO;
      const float *wk = wt + ((size_t)ky * g.KW + kx) * g.CO * g.C + c0;
      for (int co = 0; co < g.CO; co++) {
        __m512 wv[2];
        for (int v = 0; v < NV; v++) wv[v] = _mm512_loadu_ps(wk + (size_t)co * g.C + 16 * v);
        for (int p = 0; p < NP; p++) {
          const __m512 dv = _mm512_set1_ps(dp[(size_t)p * g.CO + co]);
          for (int v = 0; v < NV; v++) acc[p][v] = _mm512_fmadd_ps(dv, wv[v], acc[p][v]);
        }
      }
    }
  }
  for (int p = 0; p < NP; p++) {
    for (int v = 0; v < NV; v++) {
      _mm512_storeu_ps(dxr + (size_t)(ix + p * g.SW) * g.C + c0 + 16 * v, acc[p][v]);
    }
  }
}

ALWAYS_INLINE void blocks_t(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy,
                            int ix, const int NP) {
  int c0 = 0;
  for (; c0 + 32 <= g.C; c0 += 32) block_t(dy, wt, dxr, g, b, iy, ix, c0, 2, NP);
  if (c0 < g.C) block_t(dy, wt, dxr, g, b, iy, ix, c0, 1, NP);
}

static void rest_block_t(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy,
                         int ix, int n) {
  BY_REST(n, blocks_t, dy, wt, dxr, g, b, iy, ix)
}

/* Input pixel ix whose taps may leave dy: four partial sums over co mod 4 (as edge_pixel). */
static void edge_pixel_t(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy,
                         int ix) {
  for (int c0 = 0; c0 < g.C; c0 += 16) {
    __m512 acc[4];
    for (int k = 0; k < 4; k++) acc[k] = _mm512_setzero_ps();
    for (int ky = 0; ky < g.KH; ky++) {
      int oy, ox;
      if (!lands(iy + g.PT - ky, g.SH, g.OH, &oy)) continue;
      for (int kx = 0; kx < g.KW; kx++) {
        if (!lands(ix + g.PL - kx, g.SW, g.OW, &ox)) continue;
        const float *dp = dy + (((size_t)b * g.OH + oy) * g.OW + ox) * g.CO;
        const float *wk = wt + ((size_t)ky * g.KW + kx) * g.CO * g.C + c0;
        dot4(dp, wk, g.C, g.CO, acc);
      }
    }
    _mm512_storeu_ps(dxr + (size_t)ix * g.C + c0, sum4(acc));
  }
}

/* Stride 2 and 3 taps across (G's transposed convs): an input pixel with
 * ix + PL = 2·o reads dy pixels o (tap 0) and o - 1 (tap 2), and the next
 * one reads o (tap 1), so each dy value broadcast serves three FMAs where
 * block_t, a parity at a time, gave it one: with 16 channels (G's last
 * transposed conv, to 64×64×16) that left the FMAs waiting on loads. */

/* dx[iy, ix .. ix + 2·NP)[c0 .. c0 + 16·NV) with ix + PL even, reading dy
 * pixels (ix + PL) / 2 - 1 .. (ix + PL) / 2 + NP - 1 (all inside). */
ALWAYS_INLINE void pair_block_t(const float *dy, const float *wt, float *dxr, GnGeo g, int b,
                                int iy, int ix, int c0, const int NV, const int NP) {
  __m512 acc[24];
  for (int i = 0; i < 2 * NP * NV; i++) acc[i] = _mm512_setzero_ps();
  const int first = (ix + g.PL) / 2 - 1;
  const size_t tap = (size_t)g.CO * g.C;
  for (int ky = 0; ky < g.KH; ky++) {
    int oy;
    if (!lands(iy + g.PT - ky, g.SH, g.OH, &oy)) continue;
    const float *d = dy + (((size_t)b * g.OH + oy) * g.OW + first) * g.CO;
    const float *wk = wt + (size_t)ky * g.KW * tap + c0;
    for (int co = 0; co < g.CO; co++) {
      __m512 w0[2], w1[2], w2[2];
      for (int v = 0; v < NV; v++) {
        const float *wc = wk + (size_t)co * g.C + 16 * v;
        w0[v] = _mm512_loadu_ps(wc), w1[v] = _mm512_loadu_ps(wc + tap);
        w2[v] = _mm512_loadu_ps(wc + 2 * tap);
      }
      __m512 prev = _mm512_set1_ps(d[co]);
      for (int j = 0; j < NP; j++) {
        const __m512 cur = _mm512_set1_ps(d[(size_t)(j + 1) * g.CO + co]);
        for (int v = 0; v < NV; v++) {
          __m512 *even = &acc[2 * j * NV + v], *odd = &acc[(2 * j + 1) * NV + v];
          *even = _mm512_fmadd_ps(prev, w2[v], _mm512_fmadd_ps(cur, w0[v], *even));
          *odd = _mm512_fmadd_ps(cur, w1[v], *odd);
        }
        prev = cur;
      }
    }
  }
  for (int q = 0; q < 2 * NP; q++) {
    for (int v = 0; v < NV; v++) {
      _mm512_storeu_ps(dxr + (size_t)(ix + q) * g.C + c0 + 16 * v, acc[q * NV + v]);
    }
  }
}

/* Pixel pairs per block: 6 with 32 channels at a time (when they divide the
 * channels), 12 with 16; 24 registers of sums either way. */
static int most_pairs(GnGeo g) { return g.C % 32 == 0 ? 6 : 12; }

/* Every channel of NP pixel pairs from ix, 32 or 16 channels at a time. */
ALWAYS_INLINE void pairs_wide(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy,
                              int ix, const int NP) {
  for (int c0 = 0; c0 < g.C; c0 += 32) pair_block_t(dy, wt, dxr, g, b, iy, ix, c0, 2, NP);
}

ALWAYS_INLINE void pairs_narrow(const float *dy, const float *wt, float *dxr, GnGeo g, int b,
                                int iy, int ix, const int NP) {
  for (int c0 = 0; c0 < g.C; c0 += 16) pair_block_t(dy, wt, dxr, g, b, iy, ix, c0, 1, NP);
}

static void pairs(const float *dy, const float *wt, float *dxr, GnGeo g, int b, int iy, int ix,
                  int n) {
  if (most_pairs(g) == 6) {
    switch (n) {
      case 1: pairs_wide(dy, wt, dxr, g, b, iy, ix, 1); break;
      case 2: pairs_wide(dy, wt, dxr, g, b, iy, ix, 2); break;
      case 3: pairs_wide(dy, wt, dxr, g, b, iy, ix, 3); break;
      case 4: pairs_wide(dy, wt, dxr, g, b, iy, ix, 4); break;
      case 5: pairs_wide(dy, wt, dxr, g, b, iy, ix, 5); break;
      default: pairs_wide(dy, wt, dxr, g, b, iy, ix, 6); break;
    }
  } else {
    if (n == 12) pairs_narrow(dy, wt, dxr, g, b, iy, ix, 12);
    else BY_REST(n, pairs_narrow, dy, wt, dxr, g, b, iy, ix)
  }
}

/* Row iy of a stride-2, 3-wide transposed conv: pairs from each even ix + PL
 * whose dy pixels lie inside, the other pixels alone. */
static void input_row_pairs(const float *dy, const float *wt, float *dx, GnGeo g, int b, int iy) {
  float *dxr = dx + ((size_t)b * g.H + iy) * g.W * g.C;
  const int most = most_pairs(g);
  int ix = 0;
  while (ix < g.W) {
    const int first = (ix + g.PL) / 2 - 1;
    int n = (g.W - ix) / 2 < g.OW - 1 - first ? (g.W - ix) / 2 : g.OW - 1 - first;
    if ((ix + g.PL) % 2 || first < 0 || n < 1) {
      if (inner_column(g, ix)) rest_block_t(dy, wt, dxr, g, b, iy, ix, 1);
      else edge_pixel_t(dy, wt, dxr, g, b, iy, ix);
      ix++;
      continue;
    }
    for (; n > 0; n -= most, ix += 2 * most) pairs(dy, wt, dxr, g, b, iy, ix, n < most ? n : most);
    if (n < 0) ix += 2 * n;
  }
}

/* Row iy of image b: for each remainder r of ix mod SW, its columns in
 * order, runs of inner ones in blocks of 12 and a rest, the others alone. */
static void input_row(const float *dy, const float *wt, float *dx, GnGeo g, int b, int iy) {
  float *dxr = dx + ((size_t)b * g.H + iy) * g.W * g.C;
  for (int r = 0; r < g.SW && r < g.W; r++) {
    int ix = r;
    while (ix < g.W) {
      if (!inner_column(g, ix)) {
        edge_pixel_t(dy, wt, dxr, g, b, iy, ix);
        ix += g.SW;
        continue;
      }
      int n = 0; /* inner columns from ix on, every SW-th */
      while (ix + n * g.SW < g.W && inner_column(g, ix + n * g.SW)) n++;
      for (; n >= 12; n -= 12, ix += 12 * g.SW) blocks_t(dy, wt, dxr, g, b, iy, ix, 12);
      if (n > 0) rest_block_t(dy, wt, dxr, g, b, iy, ix, n), ix += n * g.SW;
    }
  }
}

int gn__wide_bwd_input(const float *dy, const float *w, float *dx, const int *gi) {
  const GnGeo g = gn__geo(gi);
  const size_t taps = (size_t)g.KH * g.KW;
  float *wt = (float *)gn__work(taps * g.C * g.CO * sizeof(float));
  if (!wt) return -1;
  gn__transpose_taps(w, wt, taps, g.C, g.CO);
  each_row(g.SW == 2 && g.KW == 3 ? input_row_pairs : input_row, g.H, dy, wt, dx, g);
  return 0;
}

/* ---- The filter gradient ----
 * dw[ky, kx, c, co] sums x[iy, ix, c] · dy[oy, ox, co] over every output
 * pixel: for each output row and tap, 12 inputs × 32 outputs of dw in 24
 * registers run along the row, each dy vector loaded once for 12
 * broadcast inputs. Images go in GROUPS fixed groups, each summed into its
 * own copy of dw and the copies added in group order: the parts and the
 * order depend on the batch only, never on the thread count. */

#define GROUPS 8

/* dw[c0 .. c0 + NC)[co .. co + 16·NV) of one tap (at a) += the sums over
 * output pixels [ox0, ox1) of one row; pixel ox reads xr + ox·SW·C. */
ALWAYS_INLINE void filter_run(const float *xr, const float *dyr, float *a, GnGeo g, int ox0,
                              int ox1, int c0, int co, const int NC, const int NV) {
  __m512 acc[12][2];
  float *at = a + (size_t)c0 * g.CO + co;
  for (int i = 0; i < NC; i++) {
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_loadu_ps(at + (size_t)i * g.CO + 16 * v);
  }
  const size_t step = (size_t)g.SW * g.C;
  for (int ox = ox0; ox < ox1; ox++) {
    const float *xp = xr + ox * step + c0, *dp = dyr + (size_t)ox * g.CO + co;
    __m512 dv[2];
    for (int v = 0; v < NV; v++) dv[v] = _mm512_loadu_ps(dp + 16 * v);
    for (int i = 0; i < NC; i++) {
      const __m512 xv = _mm512_set1_ps(xp[i]);
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(xv, dv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < NC; i++) {
    for (int v = 0; v < NV; v++) _mm512_storeu_ps(at + (size_t)i * g.CO + 16 * v, acc[i][v]);
  }
}

#define FILTER_RUN_NV(NC, NV) filter_run(xr, dyr, a, g, ox0, ox1, c0, co, NC, NV)
#define FILTER_RUN(NC) \
  if (nv == 2) FILTER_RUN_NV(NC, 2); \
  else FILTER_RUN_NV(NC, 1);

/* filter_run with NC = nc (1-12) and NV = nv (1-2) as constants. */
static void filter_cells(const float *xr, const float *dyr, float *a, GnGeo g, int ox0, int ox1,
                         int c0, int co, int nc, int nv) {
  switch (nc) {
    case 1: FILTER_RUN(1) break;
    case 2: FILTER_RUN(2) break;
    case 3: FILTER_RUN(3) break;
    case 4: FILTER_RUN(4) break;
    case 5: FILTER_RUN(5) break;
    case 6: FILTER_RUN(6) break;
    case 7: FILTER_RUN(7) break;
    case 8: FILTER_RUN(8) break;
    case 9: FILTER_RUN(9) break;
    case 10: FILTER_RUN(10) break;
    case 11: FILTER_RUN(11) break;
    default: FILTER_RUN(12) break;
  }
}

/* Image b's output row oy, added into dw's copy a (all taps). */
static void filter_row(const float *x, const float *dy, float *part, GnGeo g, int b, int oy) {
  const float *dyr = dy + ((size_t)b * g.OH + oy) * g.OW * g.CO;
  for (int ky = 0; ky < g.KH; ky++) {
    const int iy = oy * g.SH - g.PT + ky;
    if (iy < 0 || iy >= g.H) continue;
    for (int kx = 0; kx < g.KW; kx++) {
      /* The output columns whose input column ox·SW − PL + kx lies inside. */
      const int lead = g.PL - kx, last = g.W - 1 + g.PL - kx;
      if (last < 0) continue;
      const int ox0 = lead > 0 ? (lead + g.SW - 1) / g.SW : 0;
      const int ox1 = last / g.SW + 1 < g.OW ? last / g.SW + 1 : g.OW;
      if (ox1 <= ox0) continue;
      const float *xr = x + (((size_t)b * g.H + iy) * g.W) * g.C - (ptrdiff_t)lead * g.C;
      float *a = part + ((size_t)ky * g.KW + kx) * g.C * g.CO;
      for (int c0 = 0; c0 < g.C; c0 += 12) {
        const int nc = g.C - c0 < 12 ? g.C - c0 : 12;
        for (int co = 0; co < g.CO; co += 32) {
          filter_cells(xr, dyr, a, g, ox0, ox1, c0, co, nc, g.CO - co >= 32 ? 2 : 1);
        }
      }
    }
  }
}

typedef struct {
  const float *x, *dy;
  float *parts;
  GnGeo g;
  int groups;
  size_t kn;
} FilterJob;

/* Part t's share of the groups, each into its own copy of dw. */
static void filter_part(void *p, int t, int nt) {
  const FilterJob *j = p;
  size_t lo, hi;
  gn__split((size_t)j->groups, nt, t, &lo, &hi);
  for (size_t k = lo; k < hi; k++) {
    float *part = j->parts + k * j->kn;
    memset(part, 0, j->kn * sizeof(float));
    size_t b0, b1;
    gn__split((size_t)j->g.B, j->groups, (int)k, &b0, &b1);
    for (size_t b = b0; b < b1; b++) {
      for (int oy = 0; oy < j->g.OH; oy++) filter_row(j->x, j->dy, part, j->g, (int)b, oy);
    }
  }
}

int gn__wide_bwd_filter(const float *x, const float *dy, float *dw, const int *gi) {
  const GnGeo g = gn__geo(gi);
  const size_t kn = (size_t)g.KH * g.KW * g.C * g.CO;
  const int groups = g.B < GROUPS ? g.B : GROUPS;
  float *parts = (float *)gn__work((size_t)groups * kn * sizeof(float));
  if (!parts) return -1;
  const int team = team_of(g);
  FilterJob job = {x, dy, parts, g, groups, kn};
  gn__parallel(team < groups ? team : groups, filter_part, &job);
  gn__sum_parts(parts, groups, kn, dw);
  return 0;
}

#else

/* Without AVX-512 every layer takes the GEMM path, and these are never called. */
int gn__wide(const int *g) {
  (void)g;
  return 0;
}

int gn__wide_t(const int *g) {
  (void)g;
  return 0;
}

int gn__wide_dw(const int *g) {
  (void)g;
  return 0;
}

void gn__wide_fwd(const float *x, const float *w, float *y, const int *g) {
  (void)x, (void)w, (void)y, (void)g;
  abort();
}

int gn__wide_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  (void)dy, (void)w, (void)dx, (void)g;
  return -1;
}

int gn__wide_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  (void)x, (void)dy, (void)dw, (void)g;
  return -1;
}

#endif
