/* Convolutions as im2col + sgemm, their gradients, and batched matmul, on
 * the thread team. See glyphnet.h for the geometry layout and threading. */
#include "glyphnet.h"

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

/* Images [b0, b1) of the single-channel convolution. */
static void single_fwd(const float *x, const float *w, float *y, const int *g, int b0, int b1) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_], KH = g[KH_], KW = g[KW_];
  memset(y + (size_t)b0 * OH * OW, 0, (size_t)(b1 - b0) * OH * OW * sizeof(float));
  for (int b = b0; b < b1; b++) {
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

static void single_bwd_input(const float *dy, const float *w, float *dx, const int *g, int b0,
                             int b1) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_], KH = g[KH_], KW = g[KW_];
  memset(dx + (size_t)b0 * H * W, 0, (size_t)(b1 - b0) * H * W * sizeof(float));
  for (int b = b0; b < b1; b++) {
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

/* dw for tap (ky, kx): a sum over every image and row, in that order. */
static float single_tap(const float *x, const float *dy, const int *g, int ky, int kx) {
  const int H = g[H_], W = g[W_], OH = g[OH_], OW = g[OW_];
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
  return (float)acc;
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

/* im2col runs in chunks of rows whose columns fit in cache (~512 KiB):
 * a whole column matrix is 9x the input and went to memory and back. But
 * at least 512 rows: every chunk's GEMM packs all of w again (dw: reads and
 * writes it), and 64-row chunks made the deep layers' 3x3 convs (K 1152 to
 * 4608) 5-15 % slower than 512. */
#define CHUNK_FLOATS (1 << 17)
#define CHUNK_MIN_ROWS 512

static size_t chunk_rows(const int *g) {
  const size_t k = gn__k(g), m = gn__rows(g);
  size_t rows = CHUNK_FLOATS / k;
  if (rows < CHUNK_MIN_ROWS) rows = CHUNK_MIN_ROWS;
  return rows < m ? rows : m;
}

/* Column scratch of one thread. */
static size_t col_floats_each(const int *g) {
  return gn__pointwise(g) || is_single(g) ? 0 : chunk_rows(g) * gn__k(g);
}

/* The single-channel blur keeps its own loops; other thin layers go to thin.c
 * (or its 16-float build, thin16.c). */
static int is_thin(const int *g) { return !is_single(g) && gn__thin_fits(g, GN_FWD); }
static int is_thin16(const int *g, int pass) { return !is_single(g) && gn__thin16_fits(g, pass); }

static int crop(const int *g, int *c, int *ky0, int *kx0);

size_t gn__col_floats(const int *g) {
  int c[GN_GEOM], ky0, kx0;
  if (crop(g, c, &ky0, &kx0)) return gn__col_floats(c);
  if (is_thin(g)) return gn__thin_floats(g);
  return (size_t)gn__threads() * col_floats_each(g);
}

/* Multiply-adds of the convolution, times 2: the work the team is sized by. */
static double conv_flops(const int *g) {
  return 2.0 * (double)gn__rows(g) * (double)gn__k(g) * (double)g[CO_];
}

/* y[m0:m1] = rows of x (or of im2col(x)) times w; a thread's share of the forward pass. */
static void fwd_rows(const float *x, const float *w, float *y, const int *g, float *col,
                     size_t m0, size_t m1) {
  const size_t K = gn__k(g);
  const int N = g[CO_];
  if (gn__pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m1 - m0), N, (int)K, 1.0f,
                x + m0 * K, (int)K, w, N, 0.0f, y + m0 * N, N);
    return;
  }
  const size_t step = chunk_rows(g);
  for (size_t a = m0; a < m1; a += step) {
    const size_t b = a + step < m1 ? a + step : m1;
    im2col_rows(x, col, g, a, b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(b - a), N, (int)K, 1.0f, col,
                (int)K, w, N, 0.0f, y + a * N, N);
  }
}

/* A pass's arguments for its parts: in, out are x, y forward and dy, dx
 * backward; each is the column scratch of one part. */
typedef struct {
  const float *in, *w;
  float *out;
  const int *g;
  float *col;
  size_t each;
} ConvJob;

static void fwd_part(void *p, int t, int nt) {
  const ConvJob *j = p;
  size_t lo, hi;
  if (is_single(j->g)) {
    gn__split((size_t)j->g[B_], nt, t, &lo, &hi);
    single_fwd(j->in, j->w, j->out, j->g, (int)lo, (int)hi);
  } else {
    gn__split(gn__rows(j->g), nt, t, &lo, &hi);
    if (hi > lo) fwd_rows(j->in, j->w, j->out, j->g, j->col + (size_t)t * j->each, lo, hi);
  }
}

/* Few output rows against a large filter: D's last convs (128 rows; a
 * 2048 x 1024 filter once cut, 1024 x 1024 for the 1x1) and G's first
 * transposed conv. Cut by rows, every thread packed the whole filter for its
 * 64 rows and a second thread gained nothing (3.3-3.6 ms a pass at 1 and 2). These
 * run with every row in one chunk of col, the team cutting the filter's
 * side: the forward pass by output columns, the input gradient by col's
 * columns (then col2im by images), the filter gradient by slices of dw. */
static int few_rows(const int *g, int team) {
  const size_t M = gn__rows(g);
  return team > 1 && !is_single(g) && M <= chunk_rows(g) && M < gn__k(g) &&
         M < (size_t)g[CO_];
}

/* im2col of rows [m0, m1) into col, each part on its own rows. */
typedef struct {
  const float *x;
  float *col;
  const int *g;
  size_t K, m0, m1;
} Im2colJob;

static void im2col_part(void *p, int t, int nt) {
  const Im2colJob *j = p;
  size_t lo, hi;
  gn__split(j->m1 - j->m0, nt, t, &lo, &hi);
  im2col_rows(j->x, j->col + lo * j->K, j->g, j->m0 + lo, j->m0 + hi);
}

/* out[M, n0:n1] = a[M, K] . b[K, n0:n1] (fwd), or out[M, k0:k1] = a[M, N] .
 * b[k0:k1, N]^T (input gradient), for part t's slice of out's columns. */
typedef struct {
  const float *a, *b;
  float *out;
  size_t M, K;
  int N, transposed;
} ColumnsJob;

static void columns_part(void *p, int t, int nt) {
  const ColumnsJob *j = p;
  size_t lo, hi;
  if (!j->transposed) {
    gn__split((size_t)j->N, nt, t, &lo, &hi);
    if (hi > lo) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->M, (int)(hi - lo),
                  (int)j->K, 1.0f, j->a, (int)j->K, j->b + lo, j->N, 0.0f, j->out + lo, j->N);
    }
    return;
  }
  gn__split(j->K, nt, t, &lo, &hi);
  if (hi > lo) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->M, (int)(hi - lo), j->N, 1.0f,
                j->a, j->N, j->b + lo * j->N, j->N, 0.0f, j->out + lo, (int)j->K);
  }
}

static void fwd_by_columns(const float *x, const float *w, float *y, const int *g, float *col,
                           int team) {
  const size_t M = gn__rows(g), K = gn__k(g);
  const float *a = x;
  if (!gn__pointwise(g)) {
    Im2colJob cols = {x, col, g, K, 0, M};
    gn__parallel(team, im2col_part, &cols);
    a = col;
  }
  ColumnsJob job = {a, w, y, M, K, g[CO_], 0};
  gn__parallel(team, columns_part, &job);
}

/* col2im of every row in col, a part per range of images (each image's dx
 * zeroed and summed by one part, in row order). */
typedef struct {
  const float *col;
  float *dx;
  const int *g;
} Col2imJob;

static void col2im_part(void *p, int t, int nt) {
  const Col2imJob *j = p;
  const size_t per = (size_t)j->g[OH_] * j->g[OW_], K = gn__k(j->g);
  const size_t image = (size_t)j->g[H_] * j->g[W_] * j->g[C_];
  size_t b0, b1;
  gn__split((size_t)j->g[B_], nt, t, &b0, &b1);
  if (b1 <= b0) return;
  memset(j->dx + b0 * image, 0, (b1 - b0) * image * sizeof(float));
  col2im_rows(j->col + b0 * per * K, j->dx, j->g, b0 * per, b1 * per);
}

static void bwd_input_by_columns(const float *dy, const float *w, float *dx, const int *g,
                                 float *col, int team) {
  const int pointwise = gn__pointwise(g);
  ColumnsJob job = {dy, w, pointwise ? dx : col, gn__rows(g), gn__k(g), g[CO_], 1};
  gn__parallel(team, columns_part, &job);
  if (pointwise) return;
  Col2imJob back = {col, dx, g};
  gn__parallel(team < g[B_] ? team : g[B_], col2im_part, &back);
}

/* Taps that land on padding for every output pixel: a conv with few
 * outputs next to its filter (D's 3x3 conv from 2x2 to 1x1, and so G's
 * first transposed conv) reaches 2x2 of its 3x3 taps. Such a conv runs as
 * the conv with its filter cut to the taps reached, skipping the work on
 * zeros (5/9 of those layers). */

/* The taps [*k0, *k0 + n) along one axis that some output reaches. */
static int reached(int outs, int stride, int pad, int k, int ins, int *k0) {
  const int lo = pad - (outs - 1) * stride, hi = ins - 1 + pad;
  *k0 = lo > 0 ? lo : 0;
  return (hi < k - 1 ? hi : k - 1) - *k0 + 1;
}

/* c = g with its filter cut to the taps reached, from tap (*ky0, *kx0);
 * 0 when there is nothing to cut. */
static int crop(const int *g, int *c, int *ky0, int *kx0) {
  memcpy(c, g, GN_GEOM * sizeof(int));
  c[KH_] = reached(g[OH_], g[SH_], g[PT_], g[KH_], g[H_], ky0);
  c[KW_] = reached(g[OW_], g[SW_], g[PL_], g[KW_], g[W_], kx0);
  if (c[KH_] < 1 || c[KW_] < 1 || c[KH_] * c[KW_] == g[KH_] * g[KW_]) return 0;
  c[PT_] -= *ky0;
  c[PL_] -= *kx0;
  return 1;
}

/* Copies the cut filter between w (g's taps) and cut (c's), either way. */
static void copy_cut(float *w, float *cut, const int *g, const int *c, int ky0, int kx0,
                     int to_cut) {
  const size_t tap = (size_t)g[C_] * g[CO_], row = (size_t)c[KW_] * tap;
  for (int ky = 0; ky < c[KH_]; ky++) {
    float *full = w + ((size_t)(ky0 + ky) * g[KW_] + kx0) * tap, *part = cut + ky * row;
    memcpy(to_cut ? part : full, to_cut ? full : part, row * sizeof(float));
  }
}

/* The cut filter of g in the taps arena, or NULL (no cut, or out of memory). */
static float *cut_filter(const float *w, const int *g, int *c) {
  int ky0, kx0;
  if (!crop(g, c, &ky0, &kx0)) return NULL;
  float *cut = gn__taps((size_t)c[KH_] * c[KW_] * g[C_] * g[CO_]);
  if (cut) copy_cut((float *)w, cut, g, c, ky0, kx0, 1);
  return cut;
}

void gn__conv_fwd(const float *x, const float *w, float *y, const int *g, float *col) {
  int c[GN_GEOM];
  const float *cut = cut_filter(w, g, c);
  if (cut) {
    gn__conv_fwd(x, cut, y, c, col);
    return;
  }
  if (gn__wide(g)) {
    gn__wide_fwd(x, w, y, g);
    return;
  }
  if (is_thin(g)) {
    (is_thin16(g, GN_FWD) ? gn__thin16_fwd : gn__thin_fwd)(x, w, y, g, col);
    return;
  }
  if (!is_single(g) && !gn__pointwise(g) && gn__regions_fwd(x, w, y, g) == 0) return;
  const int team = gn__team(conv_flops(g));
  if (few_rows(g, team)) {
    fwd_by_columns(x, w, y, g, col, team);
    return;
  }
  ConvJob job = {x, w, y, g, col, col_floats_each(g)};
  gn__parallel(team, fwd_part, &job);
}

/* dx of images [b0, b1): their rows of dy times w^T, added back by col2im. */
static void bwd_input_images(const float *dy, const float *w, float *dx, const int *g, float *col,
                             int b0, int b1) {
  const size_t K = gn__k(g), per = (size_t)g[OH_] * g[OW_];
  const int N = g[CO_];
  const size_t m0 = (size_t)b0 * per, m1 = (size_t)b1 * per;
  if (gn__pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m1 - m0), (int)K, N, 1.0f,
                dy + m0 * N, N, w, N, 0.0f, dx + m0 * K, (int)K);
    return;
  }
  const size_t image = (size_t)g[H_] * g[W_] * g[C_];
  memset(dx + (size_t)b0 * image, 0, (size_t)(b1 - b0) * image * sizeof(float));
  const size_t step = chunk_rows(g);
  for (size_t a = m0; a < m1; a += step) {
    const size_t b = a + step < m1 ? a + step : m1;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(b - a), (int)K, N, 1.0f,
                dy + a * N, N, w, N, 0.0f, col, (int)K);
    col2im_rows(col, dx, g, a, b);
  }
}

static void bwd_input_part(void *p, int t, int nt) {
  const ConvJob *j = p;
  size_t lo, hi;
  gn__split((size_t)j->g[B_], nt, t, &lo, &hi);
  if (hi > lo) {
    if (is_single(j->g)) {
      single_bwd_input(j->in, j->w, j->out, j->g, (int)lo, (int)hi);
    } else {
      bwd_input_images(j->in, j->w, j->out, j->g, j->col + (size_t)t * j->each, (int)lo,
                       (int)hi);
    }
  }
}

/* Each image goes to one thread, so col2im's sums into dx never race and
 * run in the same order at any thread count. */
void gn__conv_bwd_input(const float *dy, const float *w, float *dx, const int *g, float *col) {
  int c[GN_GEOM];
  const float *cut = cut_filter(w, g, c);
  if (cut) {
    gn__conv_bwd_input(dy, cut, dx, c, col);
    return;
  }
  if (gn__wide_t(g) && gn__wide_bwd_input(dy, w, dx, g) == 0) return;
  if (is_thin(g)) {
    (is_thin16(g, GN_BWD_INPUT) ? gn__thin16_bwd_input : gn__thin_bwd_input)(dy, w, dx, g, col);
    return;
  }
  if (!is_single(g) && !gn__pointwise(g) && gn__regions_bwd_input(dy, w, dx, g) == 0) return;
  const int team = gn__team(conv_flops(g));
  if (few_rows(g, team)) {
    bwd_input_by_columns(dy, w, dx, g, col, team);
    return;
  }
  ConvJob job = {dy, w, dx, g, col, col_floats_each(g)};
  gn__parallel(team < g[B_] ? team : g[B_], bwd_input_part, &job);
}

/* dw[k0:k1, n0:n1] (+)= a^T[k0:k1, rows] . dy[rows, n0:n1], a with K columns. */
static void filter_block(const float *a, const float *dy, float *dw, size_t K, int N, size_t rows,
                         size_t k0, size_t k1, size_t n0, size_t n1, float beta) {
  if (k1 <= k0 || n1 <= n0) return;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(k1 - k0), (int)(n1 - n0), (int)rows,
              1.0f, a + k0, (int)K, dy + n0, N, beta, dw + k0 * N + n0, N);
}

/* Thread t's block of dw: a slice of K rows, or of N columns when N is wider. */
static void filter_slice(const float *a, const float *dy, float *dw, size_t K, int N, size_t rows,
                         float beta, int t, int nt) {
  size_t lo, hi;
  if (K >= (size_t)N) {
    gn__split(K, nt, t, &lo, &hi);
    filter_block(a, dy, dw, K, N, rows, lo, hi, 0, (size_t)N, beta);
  } else {
    gn__split((size_t)N, nt, t, &lo, &hi);
    filter_block(a, dy, dw, K, N, rows, 0, K, lo, hi, beta);
  }
}

/* Most floats of per-thread dw copies: below it each thread sums its own
 * rows into its own copy and the copies are added in thread order. Sharing
 * one dw split into slices made every thread pack all of dy and im2col, so
 * a second thread gained nothing on layers with small filters. */
#define PRIVATE_DW_FLOATS ((size_t)1 << 22)

/* dwt (K x N) = the sum over rows [m0, m1), chunk by chunk; col is this thread's scratch. */
static void filter_rows(const float *x, const float *dy, float *dwt, const int *g, float *col,
                        size_t m0, size_t m1) {
  const size_t K = gn__k(g);
  const int N = g[CO_];
  if (m1 <= m0) {
    memset(dwt, 0, K * (size_t)N * sizeof(float));
    return;
  }
  const int pointwise = gn__pointwise(g);
  const size_t step = pointwise ? m1 - m0 : chunk_rows(g);
  for (size_t a = m0; a < m1; a += step) {
    const size_t b = a + step < m1 ? a + step : m1;
    const float *rows = x + a * K;
    if (!pointwise) {
      im2col_rows(x, col, g, a, b);
      rows = col;
    }
    filter_block(rows, dy + a * N, dwt, K, N, b - a, 0, K, 0, (size_t)N, a == m0 ? 0.0f : 1.0f);
  }
}

/* Part 0 sets used to the part count: parts may run on other threads, so it
 * comes back through the job, read once all are done. */
typedef struct {
  const float *x, *dy;
  float *parts;
  const int *g;
  float *col;
  size_t kn, each;
  int used;
} RowsJob;

static void rows_part(void *p, int t, int nt) {
  RowsJob *j = p;
  size_t lo, hi;
  gn__split(gn__rows(j->g), nt, t, &lo, &hi);
  filter_rows(j->x, j->dy, j->parts + (size_t)t * j->kn, j->g, j->col + (size_t)t * j->each, lo,
              hi);
  if (t == 0) j->used = nt;
}

/* dw from per-thread copies over their own rows; 0, or -1 when the copies do not fit. */
static int filter_by_rows(const float *x, const float *dy, float *dw, const int *g, float *col,
                          int team) {
  const size_t kn = gn__k(g) * (size_t)g[CO_];
  if (kn * (size_t)team > PRIVATE_DW_FLOATS) return -1;
  float *parts = (float *)gn__work(kn * (size_t)team * sizeof(float));
  if (!parts) return -1;
  RowsJob job = {x, dy, parts, g, col, kn, col_floats_each(g), 1};
  gn__parallel(team, rows_part, &job);
  gn__sum_parts(parts, job.used, kn, dw);
  return 0;
}

/* The single-channel dw: each part sums its own taps. */
typedef struct {
  const float *x, *dy;
  float *dw;
  const int *g;
  int taps;
} TapsJob;

static void taps_part(void *p, int t, int nt) {
  const TapsJob *j = p;
  size_t lo, hi;
  gn__split((size_t)j->taps, nt, t, &lo, &hi);
  for (long tap = (long)lo; tap < (long)hi; tap++) {
    j->dw[tap] = single_tap(j->x, j->dy, j->g, (int)tap / j->g[KW_], (int)tap % j->g[KW_]);
  }
}

/* filter_slice's arguments, less the part. */
typedef struct {
  const float *a, *dy;
  float *dw;
  size_t K;
  int N;
  size_t rows;
  float beta;
} SliceJob;

static void slice_part(void *p, int t, int nt) {
  const SliceJob *j = p;
  filter_slice(j->a, j->dy, j->dw, j->K, j->N, j->rows, j->beta, t, nt);
}

/* dw sums over every output pixel. Small filters: per-thread copies (above).
 * Large ones: chunks of rows run one after another, the team splitting each
 * chunk's im2col by rows and its GEMM by slices of dw. */
void gn__conv_bwd_filter(const float *x, const float *dy, float *dw, const int *g, float *col) {
  int c[GN_GEOM], ky0, kx0;
  float *cut = crop(g, c, &ky0, &kx0) ? gn__taps((size_t)c[KH_] * c[KW_] * g[C_] * g[CO_]) : NULL;
  if (cut) {
    /* The taps never reached get no gradient. */
    gn__conv_bwd_filter(x, dy, cut, c, col);
    memset(dw, 0, gn__k(g) * (size_t)g[CO_] * sizeof(float));
    copy_cut(dw, cut, g, c, ky0, kx0, 0);
    return;
  }
  if (gn__wide_dw(g) && gn__wide_bwd_filter(x, dy, dw, g) == 0) return;
  if (is_thin(g)) {
    (is_thin16(g, GN_BWD_FILTER) ? gn__thin16_bwd_filter : gn__thin_bwd_filter)(x, dy, dw, g, col);
    return;
  }
  if (!is_single(g) && !gn__pointwise(g) && gn__regions_bwd_filter(x, dy, dw, g) == 0) return;
  const size_t M = gn__rows(g), K = gn__k(g);
  const int N = g[CO_];
  const int team = gn__team(conv_flops(g));
  if (is_single(g)) {
    const int taps = g[KH_] * g[KW_];
    TapsJob job = {x, dy, dw, g, taps};
    gn__parallel(team < taps ? team : taps, taps_part, &job);
    return;
  }
  if (team > 1 && !few_rows(g, team) && filter_by_rows(x, dy, dw, g, col, team) == 0) return;
  const int pointwise = gn__pointwise(g);
  const size_t step = pointwise ? M : chunk_rows(g);
  for (size_t m0 = 0; m0 < M; m0 += step) {
    const size_t m1 = m0 + step < M ? m0 + step : M;
    const float *a = x + m0 * K;
    if (!pointwise) {
      Im2colJob cols = {x, col, g, K, m0, m1};
      gn__parallel(team, im2col_part, &cols);
      a = col;
    }
    SliceJob slice = {a, dy + m0 * N, dw, K, N, m1 - m0, m0 == 0 ? 0.0f : 1.0f};
    gn__parallel(team, slice_part, &slice);
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

/* Floats of dx per chunk of rows in gn_conv2d_bwd_input_add's 1×1 path. */
#ifndef ADD_CHUNK
#define ADD_CHUNK 65536
#endif

/* gn_conv2d_bwd_input_add's arguments. */
typedef struct {
  const float *dy, *w, *add;
  float *dx;
  const int *g;
} AddJob;

/* A 1×1 conv's images in part t: in chunks of rows small enough to stay in
 * cache, add's rows copied into dx, then sgemm adds dy·w^T onto them. */
static void pointwise_add_part(void *p, int t, int nt) {
  const AddJob *j = p;
  const size_t per = (size_t)j->g[OH_] * j->g[OW_], K = (size_t)j->g[C_];
  const int N = j->g[CO_];
  size_t lo, hi;
  gn__split((size_t)j->g[B_], nt, t, &lo, &hi);
  /* A large filter is packed again for every chunk: then the part is one chunk. */
  const size_t step = K * N >= ADD_CHUNK ? hi * per : ADD_CHUNK / K;
  for (size_t a = lo * per; a < hi * per; a += step) {
    const size_t b = a + step < hi * per ? a + step : hi * per;
    memcpy(j->dx + a * K, j->add + a * K, (b - a) * K * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(b - a), (int)K, N, 1.0f,
                j->dy + a * N, N, j->w, N, 1.0f, j->dx + a * K, (int)K);
  }
}

/**
 * dx = gn_conv2d_bwd_input's dx plus add (dx's shape): the input gradient of
 * a residual block, whose input also reaches its output directly. A 1×1
 * conv adds in sgemm while add's rows are in cache; other convs add after
 * (gn_binary, as tfjs's Add would).
 * Returns 0, or -1 when out of memory.
 */
int gn_conv2d_bwd_input_add(const float *dy, const float *w, const float *add, float *dx,
                            const int *g) {
  const int team = gn__team(conv_flops(g));
  if (gn__pointwise(g) && !few_rows(g, team)) {
    AddJob job = {dy, w, add, dx, g};
    gn__parallel(team < g[B_] ? team : g[B_], pointwise_add_part, &job);
    return 0;
  }
  if (gn_conv2d_bwd_input(dy, w, dx, g)) return -1;
  const int n = g[B_] * g[H_] * g[W_] * g[C_];
  gn_binary(0, dx, n, add, n, dx, n);
  return 0;
}

/** dw[KH,KW,C,CO] = gradient of conv(x, w) w.r.t. w given dy. */
int gn_conv2d_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  float *col = gn__scratch(gn__col_floats(g));
  if (gn__col_floats(g) && !col) return -1;
  gn__conv_bwd_filter(x, dy, dw, g, col);
  return 0;
}

/* gn_matmul's arguments, and the batch or rows its parts split. */
typedef struct {
  const float *a, *b;
  float *c;
  int batch, m, n, k, ta, tb, stride_a, stride_b, parts;
} MatmulJob;

static void matmul_part(void *p, int t, int nt) {
  const MatmulJob *j = p;
  const int batch = j->batch, m = j->m, n = j->n, k = j->k, ta = j->ta, tb = j->tb;
  size_t lo, hi;
  gn__split((size_t)j->parts, nt, t, &lo, &hi);
  for (int i = 0; i < batch; i++) {
    const float *ai = j->a + (size_t)i * j->stride_a, *bi = j->b + (size_t)i * j->stride_b;
    float *ci = j->c + (size_t)i * m * n;
    size_t r0 = 0, r1 = (size_t)m;
    if (batch > 1 && (i < (int)lo || i >= (int)hi)) continue;
    if (batch == 1) r0 = lo, r1 = hi;
    if (r1 <= r0) continue;
    /* Rows r0..r1 of op(a): row r starts at r (transposed) or r·k. */
    const float *ar = ai + (ta ? r0 : r0 * (size_t)k);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)(r1 - r0), n, k, 1.0f, ar, ta ? m : k, bi, tb ? k : n, 0.0f,
                ci + r0 * (size_t)n, n);
  }
}

/**
 * c[batch, m, n] = op(a) · op(b) where op transposes when ta/tb; a batch
 * stride of 0 broadcasts that operand. The team splits the batch, or the
 * rows of c when there is one matrix.
 */
void gn_matmul(const float *a, const float *b, float *c, int batch, int m, int n, int k, int ta,
               int tb, int stride_a, int stride_b) {
  const int team = gn__team(2.0 * batch * m * n * k);
  const int parts = batch > 1 ? batch : m;
  MatmulJob job = {a, b, c, batch, m, n, k, ta, tb, stride_a, stride_b, parts};
  gn__parallel(team < parts ? team : parts, matmul_part, &job);
}
