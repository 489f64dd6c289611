// The scan page's event interface between the viewer (scan.js) and the teaching panel
// (teaching.js). Every event is a CustomEvent dispatched on the viewer's root, <div id="scan">;
// neither script reaches into the other's state.
//
//   scan:deduction  viewer -> panel   a deduction was listed in #deductions.
//                                      detail: { item: "GB.wall_unclear", element: <li> }
//   scan:panel      viewer -> panel   the analysis finished live and a fresh #teaching panel
//                                      was put in the page: the panel script binds it again.
//   scan:boxes      panel -> viewer   draw these boxes instead of the viewer's own (the
//                                      reviewer's editor). detail: { structures:
//                                      [{ name, box: [x0, y0, x1, y1] on the 0-1000 grid }],
//                                      highlight: a box to light up, or null }
export const DEDUCTION = "scan:deduction";
export const PANEL = "scan:panel";
export const BOXES = "scan:boxes";

const root = () => document.getElementById("scan");

export function emit(name, detail) {
  const el = root();
  if (el) el.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  const el = root();
  if (el) el.addEventListener(name, (ev) => handler(ev.detail));
}
