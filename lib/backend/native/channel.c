/* The channel's loops (lib/backend/fused_kernels.ts has the contract), split
 * over the thread team by images: the weighted gather of bilinear resampling,
 * its adjoint and the per-sample 3x3 correlation, whose sums run in double and
 * round once per step, as the JavaScript loops they replace do, so both give
 * the same bits; and the separable blur, in float like the two conv2d calls it
 * replaces. */
#include "glyphnet.h"

/* out[o, :] = sum_k weight[k*N + o] * x[index[k*N + o], :] for pixels [o0, o1),
 * pixel by pixel: each output is written once, its corners added in order of k
 * (corner by corner, it was read and written count times: 1.5x slower). Inlined
 * with C a constant (images have 1 or 3 channels), a pixel's sums stay in
 * registers; other counts take the same loop, about 2x slower than that. */
static inline __attribute__((always_inline)) void gather_run(
    const float *restrict x, const int *restrict index, const float *restrict weight,
    float *restrict out, int count, size_t n, int C, size_t o0, size_t o1) {
  for (size_t o = o0; o < o1; o++) {
    float sum[C];
    for (int c = 0; c < C; c++) sum[c] = 0.0f;
    for (int k = 0; k < count; k++) {
      const size_t e = (size_t)k * n + o;
      const float w = weight[e];
      if (w == 0.0f || (size_t)index[e] >= n) continue;
      const float *src = x + (size_t)index[e] * C;
      for (int c = 0; c < C; c++) sum[c] = (float)((double)sum[c] + (double)w * src[c]);
    }
    for (int c = 0; c < C; c++) out[o * C + c] = sum[c];
  }
}

static void gather_pixels(const float *x, const int *index, const float *weight, float *out,
                          int count, size_t n, int C, size_t o0, size_t o1) {
  if (C == 1) gather_run(x, index, weight, out, count, n, 1, o0, o1);
  else if (C == 3) gather_run(x, index, weight, out, count, n, 3, o0, o1);
  else gather_run(x, index, weight, out, count, n, C, o0, o1);
}

/* gn_gather_weighted's and gn_scatter_weighted's arguments: in is x or dy, out is out or dx. */
typedef struct {
  const float *in;
  const int *index;
  const float *weight;
  float *out;
  int count, batch, pixels, C;
  size_t n;
} Weighted;

static void gather_part(void *p, int t, int nt) {
  const Weighted *j = p;
  size_t lo, hi;
  gn__split((size_t)j->batch, nt, t, &lo, &hi);
  if (hi > lo) {
    gather_pixels(j->in, j->index, j->weight, j->out, j->count, j->n, j->C, lo * j->pixels,
                  hi * j->pixels);
  }
}

/** out = weighted gather of x (B*H*W = n pixels of C channels) by count corners per pixel. */
void gn_gather_weighted(const float *x, const int *index, const float *weight, float *out,
                        int count, int batch, int pixels, int C) {
  const size_t n = (size_t)batch * pixels;
  Weighted job = {x, index, weight, out, count, batch, pixels, C, n};
  gn__parallel(gn__team(50.0 * count * (double)n * C), gather_part, &job);
}

static void scatter_part(void *p, int t, int nt) {
  const Weighted *j = p;
  const float *dy = j->in, *weight = j->weight;
  const int *index = j->index;
  float *dx = j->out;
  const int count = j->count, C = j->C;
  const size_t n = j->n;
  size_t lo, hi;
  gn__split((size_t)j->batch, nt, t, &lo, &hi);
  const size_t o0 = lo * j->pixels, o1 = hi * j->pixels;
  if (hi > lo) memset(dx + o0 * C, 0, (o1 - o0) * C * sizeof(float));
  for (int k = 0; k < count && hi > lo; k++) {
    const int *ik = index + (size_t)k * n;
    const float *wk = weight + (size_t)k * n;
    for (size_t o = o0; o < o1; o++) {
      const float w = wk[o];
      if (w == 0.0f || (size_t)ik[o] >= n) continue;
      float *dst = dx + (size_t)ik[o] * C;
      const float *src = dy + o * C;
      for (int c = 0; c < C; c++) dst[c] = (float)((double)dst[c] + (double)w * src[c]);
    }
  }
}

/** dx = adjoint of gn_gather_weighted applied to dy; each image's sums stay in one thread. */
void gn_scatter_weighted(const float *dy, const int *index, const float *weight, float *dx,
                         int count, int batch, int pixels, int C) {
  const size_t n = (size_t)batch * pixels;
  Weighted job = {dy, index, weight, dx, count, batch, pixels, C, n};
  gn__parallel(gn__team(50.0 * count * (double)n * C), scatter_part, &job);
}

/* One image of the 3x3 correlation, taps in row-major order. */
static void correlate_image(const float *x, const double *kernel, float *y, int H, int W, int C) {
  memset(y, 0, (size_t)H * W * C * sizeof(float));
  for (int t = 0; t < 9; t++) {
    const double wk = kernel[t];
    if (wk == 0.0) continue;
    const int dy = t / 3 - 1, dx = t % 3 - 1;
    const int y0 = dy < 0 ? -dy : 0, y1 = dy > 0 ? H - dy : H;
    const int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? W - dx : W;
    for (int i = y0; i < y1; i++) {
      float *dst = y + ((size_t)i * W + x0) * C;
      const float *src = x + ((size_t)(i + dy) * W + x0 + dx) * C;
      const int len = (x1 - x0) * C;
      for (int e = 0; e < len; e++) dst[e] = (float)((double)dst[e] + wk * src[e]);
    }
  }
}

typedef struct {
  const float *x;
  const double *kernel;
  float *y;
  int B, H, W, C;
  size_t image;
} Correlate;

static void correlate_part(void *p, int t, int nt) {
  const Correlate *j = p;
  size_t lo, hi;
  gn__split((size_t)j->B, nt, t, &lo, &hi);
  for (size_t b = lo; b < hi; b++) {
    correlate_image(j->x + b * j->image, j->kernel + 9 * b, j->y + b * j->image, j->H, j->W, j->C);
  }
}

/** y = per-sample 3x3 correlation of x [B,H,W,C] with kernel [B*9], zero padded. */
void gn_correlate3x3(const float *x, const double *kernel, float *y, int B, int H, int W, int C) {
  const size_t image = (size_t)H * W * C;
  Correlate job = {x, kernel, y, B, H, W, C, image};
  gn__parallel(gn__team(135.0 * B * (double)image), correlate_part, &job);
}

/* out[q] += tap * in[q + shift] for the q where in[q + shift] lies in [0, len): the
 * zero padding adds nothing. */
static void add_shifted(const float *restrict in, float *restrict out, size_t len, long shift,
                        float tap) {
  const size_t lo = shift < 0 ? (size_t)-shift : 0;
  const size_t hi = shift > 0 ? (shift < (long)len ? len - (size_t)shift : 0) : len;
  for (size_t q = lo; q < hi; q++) out[q] = GN_FMA(tap, in[q + shift], out[q]);
}

/* One image of the blur: along H into tmp, then along W into y, taps in order. */
static void blur_image(const float *x, const float *taps, int T, float *tmp, float *y, int H,
                       int W, int C) {
  const size_t row = (size_t)W * C;
  const int half = T / 2;
  for (int i = 0; i < H; i++) {
    float *t = tmp + (size_t)i * row;
    memset(t, 0, row * sizeof(float));
    for (int k = 0; k < T; k++) {
      const int r = i + k - half;
      if (r >= 0 && r < H) add_shifted(x + (size_t)r * row, t, row, 0, taps[k]);
    }
  }
  for (int i = 0; i < H; i++) {
    float *o = y + (size_t)i * row;
    memset(o, 0, row * sizeof(float));
    for (int k = 0; k < T; k++) {
      add_shifted(tmp + (size_t)i * row, o, row, (long)(k - half) * C, taps[k]);
    }
  }
}

typedef struct {
  const float *x, *taps;
  float *tmp, *y;
  int T, B, H, W, C;
  size_t image;
} Blur;

static void blur_part(void *p, int t, int nt) {
  const Blur *j = p;
  size_t lo, hi;
  gn__split((size_t)j->B, nt, t, &lo, &hi);
  for (size_t b = lo; b < hi; b++) {
    blur_image(j->x + b * j->image, j->taps, j->T, j->tmp + (size_t)t * j->image,
               j->y + b * j->image, j->H, j->W, j->C);
  }
}

/**
 * y = the separable blur of x [B,H,W,C]: a correlation with the T taps
 * (T odd) along H, then along W, zero padded to the same size, each sum in
 * order of the taps. Returns 0, or -1 when out of memory.
 */
int gn_blur(const float *x, const float *taps, int T, float *y, int B, int H, int W, int C) {
  const size_t image = (size_t)H * W * C;
  const int team = gn__team(5.0 * T * B * (double)image);
  float *tmp = gn__scratch((size_t)team * image);
  if (image && !tmp) return -1;
  Blur job = {x, taps, tmp, y, T, B, H, W, C, image};
  gn__parallel(team, blur_part, &job);
  return 0;
}

/* The corner code below is branch-free over runs of pixels so that GCC
 * vectorises it; every value still takes the JS loops' operations in their
 * order, in double, so the tables keep their bits. */

/* Math.round: the nearest integer, ties toward +infinity (x - floor(x) is exact). */
static inline double js_round(double v) {
  const double r = floor(v);
  return v - r >= 0.5 ? r + 1.0 : r;
}

/* Positions within 1e-6 of a whole number become it (as _resample.ts's snap). */
static inline double snap(double v) {
  const double r = js_round(v);
  return fabs(v - r) < 1e-6 ? r : v;
}

/* How much of a pixel at position p lies inside [0, size - 1] (selects, not branches;
 * size as a double up front, which GCC 12 vectorises much better than p < size). */
static inline double coverage(double p, int size) {
  const double last = size - 1, end = size;
  return p >= 0 && p <= last ? 1 : p > -1 && p < 0 ? 1 + p : p > last && p < end ? end - p : 0;
}

/* Pixels of a run held on the stack; longer images go in several runs. */
#define CORNER_RUN 512

/* Source positions of one run of output pixels through stage m (and the
 * coverage of the positions it reads, unless they are the output pixels). */
static void stage_run(const double *m, double *px, double *py, double *cover, int len, int H,
                      int W, int covered) {
  for (int i = 0; i < len; i++) {
    if (covered) cover[i] *= coverage(px[i], W) * coverage(py[i], H);
    const double qx = snap(m[0] * px[i] + m[1] * py[i] + m[2]);
    py[i] = snap(m[3] * px[i] + m[4] * py[i] + m[5]);
    px[i] = qx;
  }
}

/* Corner k (bit 0: one column right, bit 1: one row down) of a run of pixels
 * of image `base`: skipped corners read row n with weight 0. One corner per
 * loop, so the stores provably do not overlap and the loop vectorises. */
static void corner_run(const double *restrict px, const double *restrict py,
                       const double *restrict cover, int len, int H, int W, int k, double n,
                       double base, int32_t *restrict index, float *restrict weight) {
  for (int i = 0; i < len; i++) {
    const double x0 = floor(px[i]), y0 = floor(py[i]), fx = px[i] - x0, fy = py[i] - y0;
    const double xi = x0 + (k & 1), yi = y0 + (k >> 1);
    const double wk = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
    /* | rather than ||: no branches, so GCC vectorises the loop. */
    const int skip = (cover[i] == 0) | (wk == 0) | (xi < 0) | (yi < 0) | (xi >= W) | (yi >= H);
    /* In double, exact (whole numbers below 2^31), so one conversion per lane. */
    index[i] = (int32_t)(skip ? n : base + yi * W + xi);
    weight[i] = skip ? 0.0f : (float)(wk * cover[i]);
  }
}

/* 1 when a covered pixel of the run reads between source pixels (needs all four corners). */
static int fractional_run(const double *px, const double *py, const double *cover, int len) {
  int fractional = 0;
  for (int i = 0; i < len; i++) {
    const double fx = px[i] - floor(px[i]), fy = py[i] - floor(py[i]);
    fractional |= (cover[i] != 0) & ((fx != 0) | (fy != 0));
  }
  return fractional;
}

/* The corners of image s's output pixels, a run at a time; returns 1 when one is fractional. */
static int corner_pixels(const double *maps, int stages, int B, int H, int W, int s, int32_t *index,
                         float *weight) {
  const size_t n = (size_t)B * H * W, base = (size_t)s * H * W, pixels = (size_t)H * W;
  double px[CORNER_RUN], py[CORNER_RUN], cover[CORNER_RUN];
  int fractional = 0;
  for (size_t o0 = 0; o0 < pixels; o0 += CORNER_RUN) {
    const int len = pixels - o0 < CORNER_RUN ? (int)(pixels - o0) : CORNER_RUN;
    int x = (int)(o0 % W), y = (int)(o0 / W);
    for (int i = 0; i < len; i++) {
      px[i] = x;
      py[i] = y;
      cover[i] = 1;
      if (++x == W) {
        x = 0;
        y++;
      }
    }
    for (int t = stages - 1; t >= 0; t--) {
      const double *m = maps + ((size_t)t * B + s) * 6;
      stage_run(m, px, py, cover, len, H, W, t < stages - 1);
    }
    fractional |= fractional_run(px, py, cover, len);
    for (int k = 0; k < 4; k++) {
      const size_t o = k * n + base + o0;
      corner_run(px, py, cover, len, H, W, k, (double)n, (double)base, index + o, weight + o);
    }
  }
  return fractional;
}

/* fractional: set by any part that finds a fractional weight (atomic: parts run at once). */
typedef struct {
  const double *maps;
  int stages, B, H, W;
  int32_t *index;
  float *weight;
  atomic_int fractional;
} Corners;

static void corners_part(void *p, int t, int nt) {
  Corners *j = p;
  size_t lo, hi;
  gn__split((size_t)j->B, nt, t, &lo, &hi);
  for (size_t s = lo; s < hi; s++) {
    if (corner_pixels(j->maps, j->stages, j->B, j->H, j->W, (int)s, j->index, j->weight)) {
      atomic_store(&j->fractional, 1);
    }
  }
}

/**
 * The bilinear corners of composed affine stages, as lib/channel/_resample.ts's
 * corners() computes them, to the bit: maps holds `stages` blocks of B·6
 * doubles (output → source, applied last stage first); index and weight get
 * 4·n entries (n = B·H·W; index n reads zero). Returns 1 when any weight is
 * fractional (all four corners are needed), else 0 (the first n suffice).
 */
int gn_affine_corners(const double *maps, int stages, int B, int H, int W, int32_t *index,
                      float *weight) {
  Corners job = {maps, stages, B, H, W, index, weight, 0};
  gn__parallel(gn__team(450.0 * B * H * W), corners_part, &job);
  return atomic_load(&job.fractional);
}

typedef struct {
  const float *x;
  const double *params;
  float *value, *grad;
  int B;
  size_t per;
} Squash;

static void squash_part(void *p, int t, int nt) {
  const Squash *j = p;
  const float *x = j->x;
  float *value = j->value, *grad = j->grad;
  const size_t per = j->per;
  size_t lo, hi;
  gn__split((size_t)j->B, nt, t, &lo, &hi);
  for (size_t b = lo; b < hi; b++) {
    const double k = j->params[b];
    const int flip = j->params[j->B + b] != 0;
    const float dk = (float)(flip ? -k : k);
    for (size_t i = b * per; i < (b + 1) * per; i++) {
      const double z = ((double)x[i] - 0.5) * k + 0.5;
      const double clipped = z < 0 ? 0 : z > 1 ? 1 : z;
      value[i] = (float)(flip ? 1 - clipped : clipped);
      grad[i] = z > 0 && z < 1 ? dk : 0.0f;
    }
  }
}

/**
 * The channel's hard sigmoid and inversion, per sample b of B (per values
 * each): z = (x - 0.5)·slope + 0.5, value = clip(z, 0, 1) (1 minus it when
 * inverted), grad = ±slope inside (0, 1), else 0. params holds B slopes, then
 * B flags (1: invert). In double, as lib/channel/extras.ts's loop.
 */
void gn_squash(const float *x, const double *params, float *value, float *grad, int B,
               size_t per) {
  Squash job = {x, params, value, grad, B, per};
  gn__parallel(gn__team(20.0 * B * (double)per), squash_part, &job);
}
