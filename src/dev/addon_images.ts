/**
 * Draws the add-on's store pictures, deploy/home-assistant-addon/icon.png
 * (128 x 128) and logo.png (250 x 100): a meter dial with a lightning bolt,
 * encoded with a minimal PNG writer (node:zlib). Run again after a change:
 * `deno run --allow-write=deploy/home-assistant-addon src/dev/addon_images.ts`.
 *
 * @module
 */
import { deflateSync } from "node:zlib";

type Rgba = readonly [number, number, number, number];

const BLUE: Rgba = [3, 169, 244, 255];
const WHITE: Rgba = [255, 255, 255, 255];
const YELLOW: Rgba = [255, 193, 7, 255];
const CLEAR: Rgba = [0, 0, 0, 0];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An 8-bit RGBA PNG of `width` x `height` pixels coloured by `pixel`. */
export function png(width: number, height: number, pixel: (x: number, y: number) => Rgba) {
  const rows = new Uint8Array((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set(pixel(x, y), y * (width * 4 + 1) + 1 + x * 4);
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(rows))),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Inside the lightning bolt of a `size` square: two triangles. */
function bolt(x: number, y: number, size: number): boolean {
  const u = x / size;
  const v = y / size;
  const inside = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number) => {
    const d = (px: number, py: number, qx: number, qy: number) =>
      (u - qx) * (py - qy) - (px - qx) * (v - qy);
    const [d1, d2, d3] = [d(ax, ay, bx, by), d(bx, by, cx, cy), d(cx, cy, ax, ay)];
    return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
  };
  return inside(0.58, 0.18, 0.34, 0.56, 0.52, 0.56) || inside(0.48, 0.44, 0.66, 0.44, 0.42, 0.84);
}

/** The icon's motif in a `size` square at (`left`, `top`). */
function motif(x: number, y: number, left: number, top: number, size: number): Rgba | undefined {
  const dx = x - left - size / 2;
  const dy = y - top - size / 2;
  const r = Math.hypot(dx, dy) / (size / 2);
  if (r > 0.98) return undefined;
  if (bolt(x - left, y - top, size)) return YELLOW;
  return r > 0.86 ? WHITE : BLUE;
}

/** Black strokes of "KPM33B" in a 5 x 7 pixel font, scaled. */
const FONT: Record<string, string[]> = {
  K: ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
  P: ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
  M: ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
  "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
  B: ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
};

function text(x: number, y: number, word: string, left: number, top: number, scale: number) {
  const column = Math.floor((x - left) / scale);
  const row = Math.floor((y - top) / scale);
  if (row < 0 || row >= 7 || column < 0) return false;
  const letter = word[Math.floor(column / 6)];
  const glyph = letter === undefined ? undefined : FONT[letter];
  return glyph !== undefined && glyph[row]?.[column % 6] === "1";
}

/** The store pictures by file name: icon.png (128 x 128) and logo.png (250 x 100). */
export function addonImages(): Record<string, Uint8Array> {
  return {
    "icon.png": png(128, 128, (x, y) => motif(x, y, 0, 0, 128) ?? CLEAR),
    "logo.png": png(250, 100, (x, y) =>
      motif(x, y, 4, 8, 84) ??
        (text(x, y, "KPM33B", 100, 36, 4) ? [33, 33, 33, 255] : CLEAR)),
  };
}

if (import.meta.main) {
  const dir = new URL("../../deploy/home-assistant-addon/", import.meta.url);
  for (const [name, bytes] of Object.entries(addonImages())) {
    await Deno.writeFile(new URL(name, dir), bytes);
  }
}
