// Types for the parts of the untyped npm package "gifenc" that we use.
declare function quantize(rgba: Uint8Array | Uint8ClampedArray, maxColors: number): number[][];
declare function applyPalette(
  rgba: Uint8Array | Uint8ClampedArray,
  palette: number[][],
): Uint8Array;
declare function GIFEncoder(opts?: { auto?: boolean }): {
  writeHeader(): void;
  writeFrame(
    index: Uint8Array,
    width: number,
    height: number,
    opts: { palette?: number[][]; delay?: number; repeat?: number; first?: boolean },
  ): void;
  finish(): void;
  bytes(): Uint8Array;
};
declare const gifenc: {
  quantize: typeof quantize;
  applyPalette: typeof applyPalette;
  GIFEncoder: typeof GIFEncoder;
};
export default gifenc;
