// A Motion-JPEG AVI from JPEG frames of one size: the live page's "Save the last seconds as a
// clip" (the upload takes MP4, MOV and AVI; browsers record only WebM, and Chromium without
// proprietary codecs no MP4). RIFF 'AVI ': hdrl (avih, one strl: strh 'vids' 'MJPG', strf
// BITMAPINFOHEADER), movi (one '00dc' chunk per frame), idx1 (every frame a key frame).

function fourcc(view, at, text) {
  for (let i = 0; i < 4; i++) view.setUint8(at + i, text.charCodeAt(i));
}

// frames: [Uint8Array of a JPEG], all width x height; returns a Blob "video/x-msvideo".
export function mjpegAvi(frames, width, height, fps) {
  const n = frames.length;
  const padded = frames.map((f) => f.length + (f.length % 2));
  const moviSize = 4 + padded.reduce((sum, size) => sum + 8 + size, 0);
  const hdrlSize = 4 + (8 + 56) + (8 + 4 + (8 + 56) + (8 + 40));
  const idxSize = 16 * n;
  const total = 4 + (8 + hdrlSize) + (8 + moviSize) + (8 + idxSize);
  const biggest = Math.max(...frames.map((f) => f.length));
  const head = new DataView(new ArrayBuffer(12 + 8 + hdrlSize + 12));
  let at = 0;
  const u32 = (v) => { head.setUint32(at, v, true); at += 4; };
  const u16 = (v) => { head.setUint16(at, v, true); at += 2; };
  const cc = (t) => { fourcc(head, at, t); at += 4; };
  cc("RIFF"); u32(total); cc("AVI ");
  cc("LIST"); u32(hdrlSize); cc("hdrl");
  cc("avih"); u32(56);
  u32(Math.round(1e6 / fps)); u32(biggest * fps); u32(0); u32(0x10); u32(n); u32(0); u32(1);
  u32(biggest); u32(width); u32(height); u32(0); u32(0); u32(0); u32(0);
  cc("LIST"); u32(4 + (8 + 56) + (8 + 40)); cc("strl");
  cc("strh"); u32(56);
  cc("vids"); cc("MJPG"); u32(0); u16(0); u16(0); u32(0); u32(1); u32(fps); u32(0); u32(n);
  u32(biggest); u32(0xffffffff); u32(0); u16(0); u16(0); u16(width); u16(height);
  cc("strf"); u32(40);
  u32(40); u32(width); u32(height); u16(1); u16(24); cc("MJPG"); u32(width * height * 3);
  u32(0); u32(0); u32(0); u32(0);
  cc("LIST"); u32(moviSize); cc("movi");
  const parts = [head.buffer];
  const index = new DataView(new ArrayBuffer(8 + idxSize));
  fourcc(index, 0, "idx1");
  index.setUint32(4, idxSize, true);
  let offset = 4; // from the 'movi' fourcc
  frames.forEach((frame, i) => {
    const chunk = new DataView(new ArrayBuffer(8));
    fourcc(chunk, 0, "00dc");
    chunk.setUint32(4, frame.length, true);
    parts.push(chunk.buffer, frame);
    if (frame.length % 2) parts.push(new Uint8Array(1));
    const row = 8 + 16 * i;
    fourcc(index, row, "00dc");
    index.setUint32(row + 4, 0x10, true);
    index.setUint32(row + 8, offset, true);
    index.setUint32(row + 12, frame.length, true);
    offset += 8 + padded[i];
  });
  parts.push(index.buffer);
  return new Blob(parts, { type: "video/x-msvideo" });
}
