/* The channel's loops (lib/backend/fused_kernels.ts has the contract): the
 * weighted gather of bilinear resampling, its adjoint, and the per-sample
 * 3x3 correlation, split over the thread team by images. Sums run in double
 * and round once per step, as the JavaScript loops they replace do, so both
 * give the same bits. */
#include "glyphnet.h"

/* out[o, :] = sum_k weight[k*N + o] * x[index[k*N + o], :] for pixels [o0, o1). */
static void gather_pixels(const float *x, const int *index, const float *weight, float *out,
                          int count, size_t n, int C, size_t o0, size_t o1) {
  memset(out + o0 * C, 0, (o1 - o0) * C * sizeof(float));
  for (int k = 0; k < count; k++) {
    const int *ik = index + (size_t)k * n;
    const float *wk = weight + (size_t)k * n;
    for (size_t o = o0; o < o1; o++) {
      const float w = wk[o];
      if (w == 0.0f || (size_t)ik[o] >= n) continue;
      const float *src = x + (size_t)ik[o] * C;
      float *dst = out + o * C;
      for (int c = 0; c < C; c++) dst[c] = (float)((double)dst[c] + (double)w * src[c]);
    }
  }
}

/** out = weighted gather of x (B*H*W = n pixels of C channels) by count corners per pixel. */
void gn_gather_weighted(const float *x, const int *index, const float *weight, float *out,
                        int count, int batch, int pixels, int C) {
  const size_t n = (size_t)batch * pixels;
#pragma omp parallel num_threads(gn__team(3.0 * count * (double)n * C))
  {
    size_t lo, hi;
    gn__split((size_t)batch, GN_NTH(), GN_TID(), &lo, &hi);
    if (hi > lo) gather_pixels(x, index, weight, out, count, n, C, lo * pixels, hi * pixels);
  }
}

/** dx = adjoint of gn_gather_weighted applied to dy; each image's sums stay in one thread. */
void gn_scatter_weighted(const float *dy, const int *index, const float *weight, float *dx,
                         int count, int batch, int pixels, int C) {
  const size_t n = (size_t)batch * pixels;
#pragma omp parallel num_threads(gn__team(3.0 * count * (double)n * C))
  {
    size_t lo, hi;
    gn__split((size_t)batch, GN_NTH(), GN_TID(), &lo, &hi);
    const size_t o0 = lo * pixels, o1 = hi * pixels;
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

/** y = per-sample 3x3 correlation of x [B,H,W,C] with kernel [B*9], zero padded. */
void gn_correlate3x3(const float *x, const double *kernel, float *y, int B, int H, int W, int C) {
  const size_t image = (size_t)H * W * C;
#pragma omp parallel for schedule(static) num_threads(gn__team(18.0 * B * (double)image))
  for (int b = 0; b < B; b++) correlate_image(x + b * image, kernel + 9 * b, y + b * image, H, W, C);
}

/* Math.round: the nearest integer, ties toward +infinity (x - floor(x) is exact). */
static double js_round(double v) {
  const double r = floor(v);
  return v - r >= 0.5 ? r + 1.0 : r;
}

/* Positions within 1e-6 of a whole number become it (as _resample.ts's snap). */
static double snap(double v) {
  const double r = js_round(v);
  return fabs(v - r) < 1e-6 ? r : v;
}

/* How much of a pixel at position p lies inside [0, size - 1]. */
static double coverage(double p, int size) {
  if (p >= 0 && p <= size - 1) return 1;
  if (p > -1 && p < 0) return 1 + p;
  if (p > size - 1 && p < size) return size - p;
  return 0;
}

/* The corners of image s's output pixels; returns 1 when one is fractional. */
static int corner_pixels(const double *maps, int stages, int B, int H, int W, int s, int32_t *index,
                         float *weight) {
  const size_t n = (size_t)B * H * W, base = (size_t)s * H * W;
  int fractional = 0;
  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      const size_t o = base + (size_t)y * W + x;
      double px = x, py = y, cover = 1;
      for (int t = stages - 1; t >= 0; t--) {
        if (t < stages - 1) cover *= coverage(px, W) * coverage(py, H);
        const double *m = maps + ((size_t)t * B + s) * 6;
        const double qx = snap(m[0] * px + m[1] * py + m[2]);
        py = snap(m[3] * px + m[4] * py + m[5]);
        px = qx;
      }
      for (int k = 0; k < 4; k++) {
        index[k * n + o] = (int32_t)n;
        weight[k * n + o] = 0.0f;
      }
      if (cover == 0) continue;
      const double x0 = floor(px), y0 = floor(py), fx = px - x0, fy = py - y0;
      if (fx != 0 || fy != 0) fractional = 1;
      for (int k = 0; k < 4; k++) {
        const double xi = x0 + (k & 1), yi = y0 + (k >> 1);
        const double wk = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
        if (wk == 0 || xi < 0 || yi < 0 || xi >= W || yi >= H) continue;
        index[k * n + o] = (int32_t)(base + (size_t)yi * W + (size_t)xi);
        weight[k * n + o] = (float)(wk * cover);
      }
    }
  }
  return fractional;
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
  int fractional = 0;
#pragma omp parallel for schedule(static) reduction(| : fractional) \
    num_threads(gn__team(200.0 * B * H * W))
  for (int s = 0; s < B; s++) {
    fractional |= corner_pixels(maps, stages, B, H, W, s, index, weight);
  }
  return fractional;
}
