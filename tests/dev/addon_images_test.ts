import assert from "node:assert/strict";
import { addonImages } from "../../src/dev/addon_images.ts";

Deno.test("the committed store pictures are the ones src/dev/addon_images.ts draws", () => {
  for (const [name, bytes] of Object.entries(addonImages())) {
    const committed = Deno.readFileSync(
      new URL(`../../deploy/home-assistant-addon/${name}`, import.meta.url),
    );
    assert.deepEqual(committed, bytes, `${name}: run src/dev/addon_images.ts again`);
  }
});

Deno.test("the pictures are PNGs that decode to their sizes", async () => {
  const images = addonImages();
  for (
    const [name, [width, height]] of [["icon.png", [128, 128]], ["logo.png", [250, 100]]] as const
  ) {
    const bytes = images[name];
    assert.ok(bytes !== undefined, `a picture ${name}`);
    const view = new DataView(bytes.buffer);
    assert.deepEqual([view.getUint32(16), view.getUint32(20)], [width, height], name);
    // The IDAT stream inflates to one filter byte and width RGBA pixels per row.
    const length = view.getUint32(33);
    const idat = bytes.subarray(41, 41 + length);
    const raw = await new Response(
      new Blob([idat as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate")),
    ).arrayBuffer();
    assert.equal(raw.byteLength, (width * 4 + 1) * height, name);
  }
});
