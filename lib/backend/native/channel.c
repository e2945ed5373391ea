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
