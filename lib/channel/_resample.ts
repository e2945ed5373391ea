/**
 * Bilinear resampling of each image by its own affine map, with zero fill.
 *
 * tfjs has no gradient for `image.transform` or `gatherND`, and `gather`'s
 * gradient needs UnsortedSegmentSum, which wasm lacks. So the four source
 * rows and weights of every output pixel are computed in JS, and the
 * resampling is one custom node: on GPU backends its forward pass is a
 * `gather` of the flattened image (plus one zero row for out-of-range
 * corners) times the weights and its backward pass one `scatterND` (which
 * sums duplicate indices); on backends that keep tensors in host memory
 * (cpu, native, wasm) both are JS loops over the values, since tfjs'
 * generic gather is 15–20× slower there, or the backend's kernels for them
 * where it registers some (native: C on every core). Linear time everywhere.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { affineOp, inHostMemory } from "./_custom.ts";
import {
  AFFINE_CORNERS,
  type AffineCornersAttrs,
  backendHasKernels,
  GATHER_WEIGHTED,
  SCATTER_WEIGHTED,
} from "../backend/fused_kernels.ts";

/**
 * Per-sample affine maps from output to source pixel coordinates, 6 numbers
 * per sample: `srcX = a·x + b·y + c`, `srcY = d·x + e·y + f`, where x is the
 * column and y the row, in pixels.
 */
export type AffineMaps = Float64Array;

/** Source coordinates this close to an integer snap to it, so exact maps stay exact. */
const SNAP = 1e-6;

function snap(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < SNAP ? r : v;
}

/**
 * Builds the maps that scale by (sx, sy), rotate by `angle` radians
 * (clockwise as displayed, rows growing down) about the image centre, then
 * shift by (dx, dy) pixels; one entry of each array per sample.
 */
export function centredMaps(
  height: number,
  width: number,
  p: { sx: number[]; sy: number[]; angle: number[]; dx: number[]; dy: number[] },
): AffineMaps {
  const n = p.sx.length;
  const maps = new Float64Array(6 * n);
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  for (let i = 0; i < n; i++) {
    // Output u = R·S·(src − c) + c + d, so src = S⁻¹·R⁻¹·(u − c − d) + c.
    const cos = Math.cos(p.angle[i]), sin = Math.sin(p.angle[i]);
    const a = cos / p.sx[i], b = sin / p.sx[i];
    const d = -sin / p.sy[i], e = cos / p.sy[i];
    const ox = cx + p.dx[i], oy = cy + p.dy[i];
    maps.set([a, b, cx - a * ox - b * oy, d, e, cy - d * ox - e * oy], 6 * i);
  }
  return maps;
}

/** Share of a bilinear read at `p` that falls inside [0, size − 1] along one axis. */
function coverage(p: number, size: number): number {
  if (p >= 0 && p <= size - 1) return 1;
  if (p > -1 && p < 0) return 1 + p;
  if (p > size - 1 && p < size) return size - p;
  return 0;
}

/**
 * Corner rows and weights, laid out corner-major (entry k·N + n), for the
 * stages applied in order. Output points are mapped back through the stages;
 * at each intermediate frame a point's coverage scales its weights, which is
 * what that stage's zero fill would have done, so the chain matches applying
 * the stages one by one up to interpolation blur (it blurs less).
 * When no point falls between pixels, only the first corner is kept.
 * Exported for the native kernel's bit-for-bit test.
 */
export function corners(
  shape: [number, number, number],
  stages: AffineMaps[],
): { index: Int32Array; weight: Float32Array; count: 1 | 4 } {
  const [batch, height, width] = shape;
  const n = batch * height * width;
  const index = new Int32Array(4 * n).fill(n); // row n is the zero row
  const weight = new Float32Array(4 * n);
  let fractional = false;
  let o = 0;
  for (let s = 0; s < batch; s++) {
    const base = s * height * width;
    const ms = stages.map((st) => st.subarray(6 * s, 6 * s + 6));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++, o++) {
        let px = x, py = y, cover = 1;
        for (let t = ms.length - 1; t >= 0; t--) {
          if (t < ms.length - 1) cover *= coverage(px, width) * coverage(py, height);
          const m = ms[t];
          const qx = snap(m[0] * px + m[1] * py + m[2]);
          py = snap(m[3] * px + m[4] * py + m[5]);
          px = qx;
        }
        if (cover === 0) continue;
        const x0 = Math.floor(px), y0 = Math.floor(py);
        const fx = px - x0, fy = py - y0;
        if (fx !== 0 || fy !== 0) fractional = true;
        for (let k = 0; k < 4; k++) {
          const xi = x0 + (k & 1), yi = y0 + (k >> 1);
          const wk = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
          if (wk === 0 || xi < 0 || yi < 0 || xi >= width || yi >= height) continue;
          index[k * n + o] = base + yi * width + xi;
          weight[k * n + o] = wk * cover;
        }
      }
    }
  }
  return fractional
    ? { index, weight, count: 4 }
    : { index: index.subarray(0, n), weight: weight.subarray(0, n), count: 1 };
}

/**
 * Resamples `images` [B,H,W,C] bilinearly through one or more stages of
 * per-sample affine maps (applied in order, as if one after another);
 * points outside the image read zero. Differentiable with respect to
 * `images` on every backend.
 */
export function resampleAffine(
  images: tf.Tensor4D,
  stages: AffineMaps | AffineMaps[],
): tf.Tensor4D {
  const [batch, height, width, channels] = images.shape;
  const list = Array.isArray(stages) ? stages : [stages];
  for (const maps of list) {
    if (maps.length !== 6 * batch) {
      throw new RangeError(
        `Cannot resample: expected ${batch} affine maps (${6 * batch} numbers), got ${maps.length}`,
      );
    }
  }
  const n = batch * height * width;
  // The backend's kernels compute the corner tables too; elsewhere JS does, once.
  let host: ReturnType<typeof corners> | undefined;
  const onHost = () => host ??= corners([batch, height, width], list);
  const tables = (): [tf.Tensor, tf.Tensor] => {
    if (backendHasKernels(AFFINE_CORNERS)) {
      const attrs: AffineCornersAttrs = {
        maps: list.flatMap((m) => [...m]),
        stages: list.length,
        shape: [batch, height, width],
      };
      const [i, w] = tf.engine().runKernel(
        AFFINE_CORNERS,
        {},
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
      return [i, w];
    }
    return [tf.tensor1d(onHost().index, "int32"), tf.tensor1d(onHost().weight)];
  };
  const shape = images.shape;
  const forward = (x: tf.Tensor4D) => {
    if (backendHasKernels(GATHER_WEIGHTED)) return weighted(GATHER_WEIGHTED, { x }, tables());
    const { index, weight, count } = onHost();
    if (inHostMemory()) {
      return tf.tensor4d(spread(x.dataSync() as Float32Array, index, weight, channels), shape);
    }
    return tf.tidy(() => {
      const flat = tf.concat([tf.reshape(x, [n, channels]), tf.zeros([1, channels])]);
      const picked = tf.reshape(tf.gather(flat, tf.tensor1d(index, "int32")), [count, n, channels]);
      const out = tf.mul(picked, tf.tensor3d(weight, [count, n, 1]));
      return tf.reshape(count === 1 ? out : tf.sum(out, 0), shape);
    });
  };
  const adjoint = (dy: tf.Tensor4D) => {
    if (backendHasKernels(SCATTER_WEIGHTED)) return weighted(SCATTER_WEIGHTED, { dy }, tables());
    const { index, weight, count } = onHost();
    if (inHostMemory()) {
      return tf.tensor4d(gatherBack(dy.dataSync() as Float32Array, index, weight, channels), shape);
    }
    const w = tf.tensor3d(weight, [count, n, 1]);
    const updates = tf.reshape(tf.mul(tf.reshape(dy, [1, n, channels]), w), [count * n, channels]);
    const at = tf.tensor2d(index, [count * n, 1], "int32");
    const rows = tf.scatterND(at, updates, [n + 1, channels]);
    return tf.reshape(tf.slice(rows, [0, 0], [n, channels]), shape);
  };
  return affineOp(images, forward, adjoint);
}

/** {@link spread} or {@link gatherBack} as the backend's kernel (lib/backend/fused_kernels.ts). */
function weighted(
  kernel: string,
  image: Record<string, tf.Tensor4D>,
  [at, by]: [tf.Tensor, tf.Tensor],
): tf.Tensor4D {
  const out = tf.engine().runKernel(kernel, { ...image, index: at, weight: by }) as tf.Tensor4D;
  tf.dispose([at, by]);
  return out;
}

/** out[o] = Σₖ weight[k·N+o] · src[index[k·N+o]], per channel. */
function spread(
  src: Float32Array,
  index: Int32Array,
  weight: Float32Array,
  channels: number,
): Float32Array {
  const out = new Float32Array(src.length);
  const n = src.length / channels;
  for (let e = 0; e < index.length; e++) {
    const w = weight[e];
    if (w === 0) continue;
    const from = index[e] * channels, to = (e % n) * channels;
    for (let c = 0; c < channels; c++) out[to + c] += w * src[from + c];
  }
  return out;
}

/** The adjoint of {@linkcode spread}: dx[index[e]] += weight[e] · dy[e mod N]. */
function gatherBack(
  dy: Float32Array,
  index: Int32Array,
  weight: Float32Array,
  channels: number,
): Float32Array {
  const dx = new Float32Array(dy.length);
  const n = dy.length / channels;
  for (let e = 0; e < index.length; e++) {
    const w = weight[e];
    if (w === 0) continue;
    const to = index[e] * channels, from = (e % n) * channels;
    for (let c = 0; c < channels; c++) dx[to + c] += w * dy[from + c];
  }
  return dx;
}
