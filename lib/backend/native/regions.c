/* Convolutions whose outputs are few next to their filter, as regions of
 * outputs that reach the same taps. D's 3x3 convs to 2x2 and 4x4 outputs
 * (and so G's transposed convs from them) have a last row and column of
 * outputs whose taps partly land on padding: 31 % and 16 % of the GEMM
 * path's work multiplied zeros. Here each region (at most 3 bands of rows
 * times 3 of columns) is an im2col + sgemm of its own, over the taps it
 * reaches only. The filter is not copied: the taps of one filter row are
 * contiguous in w, so a region runs one GEMM per row of its taps. */
#include "glyphnet.h"

/* Outputs [o0, o1) along one axis reach taps [k0, k0 + n) and no others. */
typedef struct {
  int o0, o1, k0, n;
} Band;

typedef struct {
  Band y, x;
} Region;

#define MAX_BANDS 3
#define MAX_REGIONS (MAX_BANDS * MAX_BANDS)
/* Rows of a region's im2col per GEMM, per part. */
#define REGION_ROWS 512

/* The bands of one axis; 0 when there are more than MAX_BANDS. */
static int bands_of(int outs, int stride, int pad, int k, int ins, Band *b) {
  int count = 0;
  for (int o = 0; o < outs; o++) {
    const int lo = pad - o * stride > 0 ? pad - o * stride : 0;
    const int hi = ins - 1 + pad - o * stride < k - 1 ? ins - 1 + pad - o * stride : k - 1;
    const int n = hi >= lo ? hi - lo + 1 : 0;
    if (count && b[count - 1].k0 == lo && b[count - 1].n == n) {
      b[count - 1].o1 = o + 1;
      continue;
    }
    if (count == MAX_BANDS) return 0;
    b[count++] = (Band){o, o + 1, lo, n};
  }
  return count;
}

/* g's regions, row bands by column bands; 0 when they would leave more
 * than `most` of the full work. */
static int regions_of(const int *g, double most, Region *r) {
  Band by[MAX_BANDS], bx[MAX_BANDS];
  const int ny = bands_of(g[OH_], g[SH_], g[PT_], g[KH_], g[H_], by);
  const int nx = bands_of(g[OW_], g[SW_], g[PL_], g[KW_], g[W_], bx);
  if (!ny || !nx) return 0;
  double work = 0;
  for (int i = 0; i < ny; i++) {
    for (int j = 0; j < nx; j++) {
      r[i * nx + j] = (Region){by[i], bx[j]};
      work += (double)(by[i].o1 - by[i].o0) * (bx[j].o1 - bx[j].o0) * by[i].n * bx[j].n;
    }
  }
  const double full = (double)g[OH_] * g[OW_] * g[KH_] * g[KW_];
  return work <= most * full ? ny * nx : 0;
}

static size_t pixels(Region r) { return (size_t)(r.y.o1 - r.y.o0) * (r.x.o1 - r.x.o0); }
static size_t k_of(Region r, int C) { return (size_t)r.y.n * r.x.n * C; }

/* Row i of region r (image, then pixel in the region's row order) as an output row of g. */
static size_t out_row(const int *g, Region r, size_t i) {
  const size_t per = pixels(r), b = i / per, p = i % per;
  const int nx = r.x.o1 - r.x.o0;
  const int oy = r.y.o0 + (int)(p / nx), ox = r.x.o0 + (int)(p % nx);
  return (b * g[OH_] + oy) * g[OW_] + ox;
}

/* The input pixel of row i's first tap (r.y.k0, r.x.k0), as an offset into x, in floats. */
static size_t first_tap(const int *g, Region r, size_t i) {
  const size_t m = out_row(g, r, i), b = m / ((size_t)g[OH_] * g[OW_]);
  const int oy = (int)(m / g[OW_] % g[OH_]), ox = (int)(m % g[OW_]);
  const int iy = oy * g[SH_] - g[PT_] + r.y.k0, ix = ox * g[SW_] - g[PL_] + r.x.k0;
  return ((b * g[H_] + iy) * g[W_] + ix) * g[C_];
}

/* Rows [i0, i1) of region r's im2col: its taps only, every one inside x. */
static void cut_im2col(const float *x, float *col, const int *g, Region r, size_t i0, size_t i1) {
  const size_t row = (size_t)r.x.n * g[C_], K = k_of(r, g[C_]);
  for (size_t i = i0; i < i1; i++) {
    const float *src = x + first_tap(g, r, i);
    for (int ky = 0; ky < r.y.n; ky++) {
      memcpy(col + (i - i0) * K + ky * row, src + (size_t)ky * g[W_] * g[C_], row * sizeof(float));
    }
  }
}

/* Adds rows [i0, i1) of region r's columns back onto dx (as cut_im2col, reversed). */
static void cut_col2im(const float *col, float *dx, const int *g, Region r, size_t i0, size_t i1) {
  const size_t row = (size_t)r.x.n * g[C_], K = k_of(r, g[C_]);
  for (size_t i = i0; i < i1; i++) {
    float *dst = dx + first_tap(g, r, i);
    for (int ky = 0; ky < r.y.n; ky++) {
      const float *s = col + (i - i0) * K + ky * row;
      float *d = dst + (size_t)ky * g[W_] * g[C_];
      for (size_t j = 0; j < row; j++) d[j] += s[j];
    }
  }
}

/* The rows of w for region r's taps in filter row ky: contiguous, x.n · C of them. */
static const float *taps_of(const float *w, const int *g, Region r, int ky) {
  return w + ((size_t)(r.y.k0 + ky) * g[KW_] + r.x.k0) * g[C_] * g[CO_];
}

/* A pass's arguments; each part has `each` floats of scratch at scratch + t·each. */
typedef struct {
  const float *in, *w;
  float *out;
  const int *g;
  const Region *r;
  int regions;
  float *scratch;
  size_t each;
} RegionJob;

/* Forward, rows [i0, i1) of region r: im2col, one GEMM per filter row into tmp, then to y. */
static void fwd_rows(const RegionJob *j, Region r, float *col, size_t i0, size_t i1) {
  const int *g = j->g, N = g[CO_];
  const size_t K = k_of(r, g[C_]), row = (size_t)r.x.n * g[C_], n = i1 - i0;
  float *tmp = col + REGION_ROWS * K;
  cut_im2col(j->in, col, g, r, i0, i1);
  for (int ky = 0; ky < r.y.n; ky++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, N, (int)row, 1.0f,
                col + ky * row, (int)K, taps_of(j->w, g, r, ky), N, ky ? 1.0f : 0.0f, tmp, N);
  }
  for (size_t i = i0; i < i1; i++) {
    memcpy(j->out + out_row(g, r, i) * N, tmp + (i - i0) * N, (size_t)N * sizeof(float));
  }
}

static void fwd_part(void *p, int t, int nt) {
  const RegionJob *j = p;
  float *col = j->scratch + (size_t)t * j->each;
  for (int k = 0; k < j->regions; k++) {
    const Region r = j->r[k];
    size_t lo, hi;
    gn__split((size_t)j->g[B_] * pixels(r), nt, t, &lo, &hi);
    if (!r.y.n || !r.x.n) {
      for (size_t i = lo; i < hi; i++) {
        memset(j->out + out_row(j->g, r, i) * j->g[CO_], 0, (size_t)j->g[CO_] * sizeof(float));
      }
      continue;
    }
    for (size_t a = lo; a < hi; a += REGION_ROWS) {
      fwd_rows(j, r, col, a, a + REGION_ROWS < hi ? a + REGION_ROWS : hi);
    }
  }
}

/* Input gradient, rows [i0, i1) of region r: dy's rows, times each filter row's taps^T, back onto dx. */
static void bwd_input_rows(const RegionJob *j, Region r, float *col, size_t i0, size_t i1) {
  const int *g = j->g, N = g[CO_];
  const size_t K = k_of(r, g[C_]), row = (size_t)r.x.n * g[C_], n = i1 - i0;
  float *tmp = col + REGION_ROWS * K;
  for (size_t i = i0; i < i1; i++) {
    memcpy(tmp + (i - i0) * N, j->in + out_row(g, r, i) * N, (size_t)N * sizeof(float));
  }
  for (int ky = 0; ky < r.y.n; ky++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)row, N, 1.0f, tmp, N,
                taps_of(j->w, g, r, ky), N, 0.0f, col + ky * row, (int)K);
  }
  cut_col2im(col, j->out, g, r, i0, i1);
}

/* Each image goes to one part, its regions in order: dx's sums run in the
 * same order at any thread count. */
static void bwd_input_part(void *p, int t, int nt) {
  const RegionJob *j = p;
  float *col = j->scratch + (size_t)t * j->each;
  size_t b0, b1;
  gn__split((size_t)j->g[B_], nt, t, &b0, &b1);
  if (b1 <= b0) return;
  const size_t image = (size_t)j->g[H_] * j->g[W_] * j->g[C_];
  memset(j->out + b0 * image, 0, (b1 - b0) * image * sizeof(float));
  for (int k = 0; k < j->regions; k++) {
    const Region r = j->r[k];
    if (!r.y.n || !r.x.n) continue;
    const size_t lo = b0 * pixels(r), hi = b1 * pixels(r);
    for (size_t a = lo; a < hi; a += REGION_ROWS) {
      bwd_input_rows(j, r, col, a, a + REGION_ROWS < hi ? a + REGION_ROWS : hi);
    }
  }
}

/* Filter gradient: part t owns columns [n0, n1) of dw and sums every row of
 * every region into them, regions and chunks in order. */
static void bwd_filter_part(void *p, int t, int nt) {
  const RegionJob *j = p;
  const int *g = j->g, N = g[CO_];
  float *col = j->scratch + (size_t)t * j->each;
  size_t n0, n1;
  gn__split((size_t)N, nt, t, &n0, &n1);
  if (n1 <= n0) return;
  for (size_t k = 0; k < gn__k(g); k++) memset(j->out + k * N + n0, 0, (n1 - n0) * sizeof(float));
  for (int k = 0; k < j->regions; k++) {
    const Region r = j->r[k];
    if (!r.y.n || !r.x.n) continue;
    const size_t K = k_of(r, g[C_]), row = (size_t)r.x.n * g[C_], M = (size_t)g[B_] * pixels(r);
    float *tmp = col + REGION_ROWS * K;
    for (size_t a = 0; a < M; a += REGION_ROWS) {
      const size_t b = a + REGION_ROWS < M ? a + REGION_ROWS : M;
      cut_im2col(j->in, col, g, r, a, b);
      for (size_t i = a; i < b; i++) {
        memcpy(tmp + (i - a) * (n1 - n0), j->w + out_row(g, r, i) * N + n0,
               (n1 - n0) * sizeof(float));
      }
      for (int ky = 0; ky < r.y.n; ky++) {
        float *dw = j->out + ((size_t)(r.y.k0 + ky) * g[KW_] + r.x.k0) * g[C_] * N + n0;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)row, (int)(n1 - n0),
                    (int)(b - a), 1.0f, col + ky * row, (int)K, tmp, (int)(n1 - n0), 1.0f, dw, N);
      }
    }
  }
}

/* Runs fn over g's regions on the team; -1 when they would leave more than
 * `most` of the work, or memory runs out. */
static int run(GnPart fn, double most, const float *in, const float *w, float *out, const int *g) {
  Region r[MAX_REGIONS];
  const int regions = regions_of(g, most, r);
  if (!regions) return -1;
  size_t each = 0;
  for (int k = 0; k < regions; k++) {
    const size_t need = REGION_ROWS * (k_of(r[k], g[C_]) + (size_t)g[CO_]);
    each = need > each ? need : each;
  }
  const int team = gn__team(2.0 * (double)gn__rows(g) * (double)gn__k(g) * g[CO_]);
  float *scratch = (float *)gn__work((size_t)team * each * sizeof(float));
  if (!scratch) return -1;
  RegionJob job = {in, w, out, g, r, regions, scratch, each};
  gn__parallel(team, fn, &job);
  return 0;
}

/* Where the regions pay, measured on the default config's layers at B 128:
 * the forward and input-gradient passes gained 3 % on 8×8 outputs (8 % of
 * the work skipped), 10-35 % on 4×4 and 2×2. The filter gradient's parts
 * split dw's columns, which lost to the GEMM path's per-thread copies on
 * 8×8 outputs at 2 threads (3.5 -> 4.5 ms); it runs from 4×4 down (16 %). */
int gn__regions_fwd(const float *x, const float *w, float *y, const int *g) {
  return run(fwd_part, 0.95, x, w, y, g);
}

int gn__regions_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  return run(bwd_input_part, 0.95, dy, w, dx, g);
}

/* in is x, w is dy, out is dw. */
int gn__regions_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  return run(bwd_filter_part, 0.9, x, dy, dw, g);
}
