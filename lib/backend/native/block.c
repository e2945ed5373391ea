/* The fused conv -> batch norm (batch statistics) -> swish/sigmoid block:
 * the forward pass in one call; backward, the batch-norm half (the conv's
 * gradients are conv.c's calls, run only for what is differentiated). */
#include "glyphnet.h"

/*
 * exp(x) for float, branch-free so loops over it vectorise: Cody-Waite range
 * reduction and a degree-6 Taylor polynomial (relative error ~2e-7), inputs
 * clamped to [-87, 88]. glibc's expf is scalar and was half of the block's
 * batch-norm time.
 */
static inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = floorf(GN_FMA(x, 1.44269504f, 0.5f));
  float r = GN_FMA(-n, 0.693145751953125f, x);
  r = GN_FMA(-n, 1.428606765330187e-06f, r);
  float p = GN_FMA(r, 0.0013888889f, 0.008333334f);
  p = GN_FMA(p, r, 0.041666668f);
  p = GN_FMA(p, r, 0.16666667f);
  p = GN_FMA(p, r, 0.5f);
  p = GN_FMA(p, r, 1.0f);
  p = GN_FMA(p, r, 1.0f);
  const int32_t e = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

static inline float sigmoid_fast(float a) { return 1.0f / (1.0f + fast_exp(-a)); }

/* Rows per block of float partial sums before they go into doubles. Blocks
 * are the unit of work of the team; their partial sums are added in block
 * order, so the result does not depend on the thread count. */
#define ROW_BLOCK 64

static size_t blocks_of(size_t M) { return (M + ROW_BLOCK - 1) / ROW_BLOCK; }

/*
 * Per-channel vectors repeated `rep` times side by side, P = rep·C floats:
 * the loops below run over P contiguous floats (at least 64, a multiple of
 * 8) of rep rows at once, so they vectorise however few channels a layer
 * has. Row by row, 8 or 16 channels left the vector units idle.
 */
typedef struct {
  int C, rep, P;
} Lanes;

static Lanes lanes_of(int C) {
  int rep = 1;
  while (rep * C < 64 || (rep * C) % 8) rep++;
  return (Lanes){C, rep, rep * C};
}

static void repeat(const float *v, Lanes l, float *out) {
  for (int r = 0; r < l.rep; r++) memcpy(out + (size_t)r * l.C, v, (size_t)l.C * sizeof(float));
}

/* out[c] = the sum of acc[r·C + c] over r, in order of r. */
static void fold(const float *acc, Lanes l, float *out) {
  for (int c = 0; c < l.C; c++) out[c] = acc[c];
  for (int r = 1; r < l.rep; r++) {
    for (int c = 0; c < l.C; c++) out[c] += acc[(size_t)r * l.C + c];
  }
}

/* Floats in the rows [g, min(g + rep, i1)). */
static size_t group_floats(Lanes l, size_t g, size_t i1) {
  return (g + (size_t)l.rep < i1 ? (size_t)l.rep : i1 - g) * (size_t)l.C;
}

/* Adds per-block float partials p[nb][C] (rows of `stride` floats) into the doubles s[C], in order. */
static void add_blocks(const float *p, size_t nb, int C, size_t stride, double *s) {
  for (size_t i = 0; i < nb; i++) {
    const float *r = p + i * stride;
    for (int c = 0; c < C; c++) s[c] += r[c];
  }
}

/* One block's sums of (y − shift) and (y − shift)² into s[C] and s2[C]. */
static void moments_block(const float *restrict y, const float *restrict shift, Lanes l,
                          size_t i0, size_t i1, float *s, float *s2) {
  float a[l.P], b[l.P];
  for (int j = 0; j < l.P; j++) a[j] = b[j] = 0.0f;
  for (size_t g = i0; g < i1; g += (size_t)l.rep) {
    const float *restrict r = y + g * l.C;
    const size_t n = group_floats(l, g, i1);
    for (size_t j = 0; j < n; j++) {
      const float d = r[j] - shift[j];
      a[j] += d;
      b[j] += d * d;
    }
  }
  fold(a, l, s);
  fold(b, l, s2);
}

typedef struct {
  const float *y, *shift;
  float *part;
  size_t M, nb;
  Lanes l;
} MomentsJob;

/* Part t's share of the row blocks. */
static void moments_part(void *p, int t, int nt) {
  const MomentsJob *j = p;
  size_t lo, hi;
  gn__split(j->nb, nt, t, &lo, &hi);
  for (size_t blk = lo; blk < hi; blk++) {
    float *ps = j->part + blk * 2 * j->l.C;
    const size_t i0 = blk * ROW_BLOCK, i1 = i0 + ROW_BLOCK < j->M ? i0 + ROW_BLOCK : j->M;
    moments_block(j->y, j->shift, j->l, i0, i1, ps, ps + j->l.C);
  }
}

/* Per-block sum and sum of squares of (y[i, c] - shift[c]); part[blk] = [sum C | sumsq C]. */
static void block_moments(const float *y, size_t M, Lanes l, const float *shift, float *part,
                          int team) {
  MomentsJob job = {y, shift, part, M, blocks_of(M), l};
  gn__parallel(team, moments_part, &job);
}

/* Per-channel factors of the forward pass, each repeated to P floats. */
typedef struct {
  const float *scale, *offset, *gamma, *beta;
} NormLanes;

/*
 * xhat = z·scale + offset for channel c, from what the forward pass returns
 * (the float mean, which includes the bias, and the float variance), so the
 * backward pass recomputes the forward's xhat to the bit from z.
 */
static void norm_factors(float mean, float bias, float var, float eps, float *scale,
                         float *offset) {
  const double inv = 1.0 / sqrt((double)var + eps);
  *scale = (float)inv;
  *offset = (float)(-((double)mean - (double)bias) * inv);
}

/* y = act(xhat·gamma + beta) with xhat = z·scale + offset, rows [i0, i1),
 * plus res (the same shape as y) unless it is NULL. */
static void normalise_rows(const float *z, const float *res, float *y, Lanes l, NormLanes k,
                           int act, size_t i0, size_t i1) {
  const float *restrict scale = k.scale, *restrict offset = k.offset;
  const float *restrict gamma = k.gamma, *restrict beta = k.beta;
  for (size_t g = i0; g < i1; g += (size_t)l.rep) {
    const float *restrict h = z + g * l.C;
    float *restrict r = y + g * l.C;
    const size_t n = group_floats(l, g, i1);
    const float *restrict s = res ? res + g * l.C : NULL;
    if (s && act == 0) {
      for (size_t j = 0; j < n; j++) {
        const float a = GN_FMA(GN_FMA(h[j], scale[j], offset[j]), gamma[j], beta[j]);
        r[j] = s[j] + a * sigmoid_fast(a);
      }
    } else if (s) {
      for (size_t j = 0; j < n; j++) {
        r[j] = s[j] + sigmoid_fast(GN_FMA(GN_FMA(h[j], scale[j], offset[j]), gamma[j], beta[j]));
      }
    } else if (act == 0) {
      for (size_t j = 0; j < n; j++) {
        const float a = GN_FMA(GN_FMA(h[j], scale[j], offset[j]), gamma[j], beta[j]);
        r[j] = a * sigmoid_fast(a);
      }
    } else {
      for (size_t j = 0; j < n; j++) {
        r[j] = sigmoid_fast(GN_FMA(GN_FMA(h[j], scale[j], offset[j]), gamma[j], beta[j]));
      }
    }
  }
}

typedef struct {
  const float *z, *res;
  float *y;
  size_t M;
  Lanes l;
  NormLanes k;
  int act;
} NormJob;

/* Part t's share of the rows. */
static void normalise_part(void *p, int t, int nt) {
  const NormJob *j = p;
  size_t lo, hi;
  gn__split(j->M, nt, t, &lo, &hi);
  normalise_rows(j->z, j->res, j->y, j->l, j->k, j->act, lo, hi);
}

/* From gn__work: `sums` zeroed doubles, then `floats` floats (*floats_at points
 * at them); NULL when out of memory. */
static double *work_sums(size_t sums, size_t floats, float **floats_at) {
  double *acc = (double *)gn__work(sums * sizeof(double) + floats * sizeof(float));
  if (!acc) return NULL;
  memset(acc, 0, sums * sizeof(double));
  *floats_at = (float *)(acc + sums);
  return acc;
}

/*
 * Batch norm + activation of z + bias, z[M, C] the convolution's output:
 * the batch mean and (biased) variance of z + bias, and y = act(xhat·gamma
 * + beta). z is kept as the backward pass's saved state: writing xhat as
 * well cost one more pass over memory. Returns -1 when out of memory.
 */
static int bn_act_fwd(const float *z, const float *res, float *y, size_t M, int C,
                      const float *bias, const float *gamma, const float *beta, float *mean,
                      float *var, int act, float eps) {
  const Lanes l = lanes_of(C);
  const size_t nb = blocks_of(M), P = (size_t)l.P;
  float *fm;
  double *acc = work_sums(2 * (size_t)C, 5 * P + 3 * (size_t)C + nb * 2 * C, &fm);
  if (!acc) return -1;
  double *s = acc, *s2 = acc + C;
  float *lanes = fm, *scale = fm + 5 * P, *offset = scale + C, *shift = offset + C;
  float *part = shift + C;
  const int team = gn__team(40.0 * (double)M * C);
  /* Shifting by the first row keeps the one-pass variance accurate. */
  for (int c = 0; c < C; c++) shift[c] = z[c];
  repeat(shift, l, lanes);
  block_moments(z, M, l, lanes, part, team);
  add_blocks(part, nb, C, 2 * (size_t)C, s);
  add_blocks(part + C, nb, C, 2 * (size_t)C, s2);
  for (int c = 0; c < C; c++) {
    const double m = s[c] / (double)M;
    const double v = s2[c] / (double)M - m * m;
    mean[c] = (float)(shift[c] + m + bias[c]);
    var[c] = (float)(v > 0 ? v : 0);
    norm_factors(mean[c], bias[c], var[c], eps, &scale[c], &offset[c]);
  }
  const NormLanes k = {lanes + P, lanes + 2 * P, lanes + 3 * P, lanes + 4 * P};
  repeat(scale, l, (float *)k.scale);
  repeat(offset, l, (float *)k.offset);
  repeat(gamma, l, (float *)k.gamma);
  repeat(beta, l, (float *)k.beta);
  NormJob job = {z, res, y, M, l, k, act};
  gn__parallel(team, normalise_part, &job);
  return 0;
}

/* da = dy · act'(xhat·gamma + beta) into dz for one block of rows; its sums
 * of da and da·xhat into pb[C] and pg[C]. k's factors are repeated to P. */
static void act_bwd_block(const float *restrict dy, const float *restrict z, NormLanes k,
                          Lanes l, int act, float *restrict dz, size_t i0, size_t i1, float *pb,
                          float *pg) {
  const float *restrict scale = k.scale, *restrict offset = k.offset;
  const float *restrict gamma = k.gamma, *restrict beta = k.beta;
  float sb[l.P], sg[l.P];
  for (int j = 0; j < l.P; j++) sb[j] = sg[j] = 0.0f;
  for (size_t g = i0; g < i1; g += (size_t)l.rep) {
    const float *restrict zr = z + g * l.C, *restrict d = dy + g * l.C;
    float *restrict o = dz + g * l.C;
    const size_t n = group_floats(l, g, i1);
    if (act == 0) {
      for (size_t j = 0; j < n; j++) {
        const float h = GN_FMA(zr[j], scale[j], offset[j]);
        const float a = GN_FMA(h, gamma[j], beta[j]);
        const float sa = sigmoid_fast(a);
        const float da = d[j] * sa * GN_FMA(a, 1.0f - sa, 1.0f);
        o[j] = da;
        sb[j] += da;
        sg[j] += da * h;
      }
    } else {
      for (size_t j = 0; j < n; j++) {
        const float h = GN_FMA(zr[j], scale[j], offset[j]);
        const float sa = sigmoid_fast(GN_FMA(h, gamma[j], beta[j]));
        const float da = d[j] * sa * (1.0f - sa);
        o[j] = da;
        sb[j] += da;
        sg[j] += da * h;
      }
    }
  }
  fold(sb, l, pb);
  fold(sg, l, pg);
}

/* dz = k1·dz − k2 − xhat·k3 in place for one block of rows (factors
 * repeated to P); its column sums into pz[C]. */
static void bn_bwd_block(const float *restrict z, const float *restrict scale,
                         const float *restrict offset, const float *restrict k1,
                         const float *restrict k2, const float *restrict k3, Lanes l,
                         float *restrict dz, size_t i0, size_t i1, float *pz) {
  float sz[l.P];
  for (int j = 0; j < l.P; j++) sz[j] = 0.0f;
  for (size_t g = i0; g < i1; g += (size_t)l.rep) {
    const float *restrict zr = z + g * l.C;
    float *restrict o = dz + g * l.C;
    const size_t n = group_floats(l, g, i1);
    for (size_t j = 0; j < n; j++) {
      const float h = GN_FMA(zr[j], scale[j], offset[j]);
      const float v = k1[j] * o[j] - k2[j] - h * k3[j];
      o[j] = v;
      sz[j] += v;
    }
  }
  fold(sz, l, pz);
}

/* Both backward passes over the row blocks of gn_bn_act_bwd. f's and k1..k3's
 * factors are repeated to P; part[blk] holds a block's 2·C partial sums. */
typedef struct {
  const float *dy, *z;
  NormLanes f;
  const float *k1, *k2, *k3;
  float *dz, *part;
  size_t M, nb;
  Lanes l;
  int act;
} BwdJob;

static void act_bwd_part(void *p, int t, int nt) {
  const BwdJob *j = p;
  size_t lo, hi;
  gn__split(j->nb, nt, t, &lo, &hi);
  for (size_t blk = lo; blk < hi; blk++) {
    const size_t i0 = blk * ROW_BLOCK, i1 = i0 + ROW_BLOCK < j->M ? i0 + ROW_BLOCK : j->M;
    float *pb = j->part + blk * 2 * j->l.C, *pg = pb + j->l.C;
    act_bwd_block(j->dy, j->z, j->f, j->l, j->act, j->dz, i0, i1, pb, pg);
  }
}

static void bn_bwd_part(void *p, int t, int nt) {
  const BwdJob *j = p;
  size_t lo, hi;
  gn__split(j->nb, nt, t, &lo, &hi);
  for (size_t blk = lo; blk < hi; blk++) {
    const size_t i0 = blk * ROW_BLOCK, i1 = i0 + ROW_BLOCK < j->M ? i0 + ROW_BLOCK : j->M;
    bn_bwd_block(j->z, j->f.scale, j->f.offset, j->k1, j->k2, j->k3, j->l, j->dz, i0, i1,
                 j->part + blk * 2 * j->l.C);
  }
}

/**
 * The backward pass of the batch norm + activation half of gn_block_fwd:
 * dz[M, C] (the gradient of the conv's output) from dy, plus dgamma, dbeta
 * and dbias (the column sums of dz). z is the forward's saved conv output;
 * mean and var are what the forward returned. The conv's input and filter
 * gradients then run as separate calls, only where needed. Returns 0, or -1
 * when out of memory.
 */
int gn_bn_act_bwd(const float *dy, const float *z, const float *mean, const float *bias,
                  const float *var, const float *gamma, const float *beta, size_t M, int C,
                  int act, float eps, float *dz, float *dgamma, float *dbeta, float *dbias) {
  const Lanes l = lanes_of(C);
  const size_t nb = blocks_of(M), P = (size_t)l.P;
  float *k;
  double *acc = work_sums(3 * (size_t)C, 7 * P + 5 * (size_t)C + nb * 2 * C, &k);
  if (!acc) return -1;
  double *sg = acc, *sb = acc + C, *sz = acc + 2 * C;
  float *sl = k, *ol = k + P, *gl = k + 2 * P, *bl = k + 3 * P;
  float *k1l = k + 4 * P, *k2l = k + 5 * P, *k3l = k + 6 * P;
  float *scale = k + 7 * P, *offset = scale + C, *k1 = offset + C, *k2 = k1 + C, *k3 = k2 + C;
  float *part = k3 + C;
  const int team = gn__team(50.0 * (double)M * C);
  for (int c = 0; c < C; c++) norm_factors(mean[c], bias[c], var[c], eps, &scale[c], &offset[c]);
  repeat(scale, l, sl);
  repeat(offset, l, ol);
  repeat(gamma, l, gl);
  repeat(beta, l, bl);
  /* One job for both passes: k1l..k3l are filled in between. */
  BwdJob job = {dy, z, {sl, ol, gl, bl}, k1l, k2l, k3l, dz, part, M, nb, l, act};
  gn__parallel(team, act_bwd_part, &job);
  add_blocks(part, nb, C, 2 * (size_t)C, sb);
  add_blocks(part + C, nb, C, 2 * (size_t)C, sg);
  /* dz = gamma·invstd·(da − mean(da) − xhat·mean(da·xhat)) */
  for (int c = 0; c < C; c++) {
    dgamma[c] = (float)sg[c];
    dbeta[c] = (float)sb[c];
    const double g = gamma[c] / sqrt((double)var[c] + eps);
    k1[c] = (float)g;
    k2[c] = (float)(g * sb[c] / (double)M);
    k3[c] = (float)(g * sg[c] / (double)M);
  }
  repeat(k1, l, k1l);
  repeat(k2, l, k2l);
  repeat(k3, l, k3l);
  gn__parallel(team, bn_bwd_part, &job);
  add_blocks(part, nb, C, 2 * (size_t)C, sz);
  for (int c = 0; c < C; c++) dbias[c] = (float)sz[c];
  return 0;
}

/*
 * Fused block forward. transpose = 0: y = act(BN(conv(x, w) + bias)), y and
 * z [B,OH,OW,CO]. transpose = 1: the transposed conv of x [B,OH,OW,CO]
 * with w [KH,KW,C,CO] gives [B,H,W,C]; y and z have that shape and
 * mean/var have C entries. z gets the conv's output (without the bias), the
 * backward pass's saved state. act: 0 swish, 1 sigmoid. res: NULL, or x
 * itself in a residual block (y gets x added; stride 1, C = CO). Returns 0
 * or -1 (OOM).
 */
int gn_block_fwd(const float *x, const float *w, const float *bias, const float *gamma,
                 const float *beta, float *y, float *z, float *mean, float *var, const int *g,
                 int transpose, int act, float eps, const float *res) {
  float *col = gn__scratch(gn__col_floats(g));
  if (gn__col_floats(g) && !col) return -1;
  size_t M;
  int C;
  if (transpose) {
    gn__conv_bwd_input(x, w, z, g, col);
    M = (size_t)g[B_] * g[H_] * g[W_];
    C = g[C_];
  } else {
    gn__conv_fwd(x, w, z, g, col);
    M = gn__rows(g);
    C = g[CO_];
  }
  return bn_act_fwd(z, res, y, M, C, bias, gamma, beta, mean, var, act, eps);
}
