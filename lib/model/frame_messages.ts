/**
 * Which messages a frame shows and how each is labelled: every message when
 * there are at most {@link ALL_MESSAGES_UP_TO}, else a fixed, seeded sample
 * of grid × grid, the same for every epoch and every run of the format.
 * @module
 */
import { type MessageConfig, messageLength } from "../config/schema.ts";
import { Rng } from "../rng.ts";
import type { MessageBatch } from "./messages.ts";

/** Frames show every message of a format that has at most this many. */
export const ALL_MESSAGES_UP_TO = 64;

/** Seed of the sample: fixed, so frames compare across runs. */
const SAMPLE_SEED = 7;

/** The messages of a frame with one short label each. */
export interface FrameMessages {
  batch: MessageBatch;
  labels: string[];
}

/**
 * The frame's messages: symbols 0..N−1 (or every bit pattern) when there
 * are at most 64, else `grid`² drawn with a fixed seed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameMessages } from "./frame_messages.ts";
 * const { labels } = frameMessages({ type: "one-hot", size: 26 }, 4);
 * assert(labels.length === 26 && labels[25] === "z");
 * ```
 */
export function frameMessages(m: MessageConfig, grid: number): FrameMessages {
  const v = messageLength(m);
  const total = m.type === "one-hot" ? m.size : 2 ** Math.min(m.bits, 31);
  const codes: number[][] = [];
  if (total <= ALL_MESSAGES_UP_TO) {
    for (let i = 0; i < total; i++) codes.push(m.type === "one-hot" ? [i] : bitsOf(i, v));
  } else {
    const rng = new Rng(SAMPLE_SEED);
    const count = Math.min(grid * grid, total);
    if (m.type === "one-hot") {
      const picked = new Set<number>();
      while (picked.size < count) picked.add(rng.int(0, v - 1));
      for (const i of [...picked].sort((a, b) => a - b)) codes.push([i]);
    } else {
      for (let i = 0; i < count; i++) codes.push(Array.from({ length: v }, () => rng.int(0, 1)));
    }
  }
  const messages = new Float32Array(codes.length * v);
  const labels = new Float32Array(codes.length * (v + 1));
  codes.forEach((code, i) => {
    const bits = m.type === "one-hot" ? oneHot(code[0], v) : code;
    bits.forEach((b, j) => {
      messages[i * v + j] = b;
      labels[i * (v + 1) + j] = b;
    });
  });
  return {
    batch: { size: codes.length, length: v, messages, labels },
    labels: codes.map((code) => messageLabel(m, code)),
  };
}

/**
 * A message's label: a letter a–z when there are at most 26 symbols, else
 * its index; binary: its bits (hex past 16 bits), first bit first.
 */
export function messageLabel(m: MessageConfig, code: number[]): string {
  if (m.type === "one-hot") {
    return m.size <= 26 ? String.fromCharCode(97 + code[0]) : String(code[0]);
  }
  if (code.length <= 16) return code.join("");
  let hex = "";
  for (let i = 0; i < code.length; i += 4) {
    const nibble = code.slice(i, i + 4).reduce((a, b, k) => a | (b << k), 0);
    hex += nibble.toString(16);
  }
  return `0x${hex}`;
}

function bitsOf(i: number, v: number): number[] {
  return Array.from({ length: v }, (_, j) => (j < 31 ? (i >> j) & 1 : 0));
}

function oneHot(i: number, v: number): number[] {
  return Array.from({ length: v }, (_, j) => (j === i ? 1 : 0));
}
