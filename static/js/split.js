// Correcting panel boxes on a sheet by dragging. Each panel's box sits over the sheet preview;
// drag its body to move it or a handle to move an edge or a corner, with mouse, pen or touch
// (pointer events). Edges snap to the regions detection found and to the other panels' edges
// (hold Alt to place freely). Letting go fills the panel's numeric form and submits it, so
// the server (through htmx, or a plain post without it) stays the one place a box changes.
// No inline code: this file is loaded with the page's CSP nonce.
(() => {
  "use strict";

  const SNAP_PX = 10; // screen pixels within which an edge snaps
  const MIN_SIDE = 16; // sheet pixels, as the server requires
  const HANDLES = ["n", "s", "e", "w", "ne", "nw", "se", "sw"];

  let cancelDrag = null; // the drag under way, if any: Esc puts its box back

  const pct = (v, of) => `${((v / of) * 100).toFixed(4)}%`;
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  function read(el) {
    return { x: +el.dataset.x, y: +el.dataset.y, w: +el.dataset.w, h: +el.dataset.h };
  }

  function init(root) {
    const editor = root.id === "split-editor" ? root : root.querySelector?.("#split-editor");
    if (!editor || editor.dataset.ready) return;
    editor.dataset.ready = "1";
    const stage = editor.querySelector(".split-stage");
    const W = +editor.dataset.width;
    const H = +editor.dataset.height;
    const canEdit = editor.dataset.canEdit === "1";
    const boxes = [...stage.querySelectorAll(".split-box")];
    const regions = JSON.parse(editor.dataset.regions || "[]");

    function place(el, b) {
      el.style.left = pct(b.x, W);
      el.style.top = pct(b.y, H);
      el.style.width = pct(b.w, W);
      el.style.height = pct(b.h, H);
    }

    boxes.forEach((el) => place(el, read(el)));
    if (!canEdit) return;

    // Snap targets: every edge detection found, the sheet's edges, the other panels' edges.
    function targets(except) {
      const xs = [0, W];
      const ys = [0, H];
      for (const [x, y, w, h] of regions) xs.push(x, x + w), ys.push(y, y + h);
      for (const el of boxes) {
        if (el === except) continue;
        const b = read(el);
        xs.push(b.x, b.x + b.w);
        ys.push(b.y, b.y + b.h);
      }
      return { xs, ys };
    }

    function nearest(value, list, reach) {
      let best = null;
      for (const t of list) {
        const d = Math.abs(t - value);
        if (d <= reach && (best === null || d < Math.abs(best - value))) best = t;
      }
      return best;
    }

    boxes.forEach((el) => {
      el.tabIndex = -1;
      for (const edge of HANDLES) {
        const handle = document.createElement("span");
        handle.className = "split-handle";
        handle.dataset.edge = edge;
        el.appendChild(handle);
      }
      el.addEventListener("pointerdown", (event) => start(event, el));
    });

    let drag = null;

    function start(event, el) {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      event.preventDefault();
      const handle = event.target.closest(".split-handle");
      drag = {
        el,
        edge: handle ? handle.dataset.edge : "move",
        from: read(el),
        x: event.clientX,
        y: event.clientY,
        scale: W / stage.getBoundingClientRect().width,
        snap: targets(el),
        moved: false,
      };
      cancelDrag = cancel;
      el.classList.add("dragging");
      try {
        el.setPointerCapture(event.pointerId); // keep the drag when the pointer outruns the box
      } catch {
        // A pointer the browser no longer tracks: the box's own listeners still see it.
      }
      el.addEventListener("pointermove", move);
      el.addEventListener("pointerup", end);
      el.addEventListener("pointercancel", cancel);
    }

    function move(event) {
      if (!drag) return;
      const dx = (event.clientX - drag.x) * drag.scale;
      const dy = (event.clientY - drag.y) * drag.scale;
      if (Math.abs(dx) + Math.abs(dy) > 0) drag.moved = true;
      const reach = event.altKey ? 0 : SNAP_PX * drag.scale;
      const f = drag.from;
      let x0 = f.x;
      let y0 = f.y;
      let x1 = f.x + f.w;
      let y1 = f.y + f.h;
      const e = drag.edge;
      if (e === "move") {
        x0 = clamp(f.x + dx, 0, W - f.w);
        y0 = clamp(f.y + dy, 0, H - f.h);
        // Snap whichever side of the box is nearer a target, keeping its size.
        const sx0 = nearest(x0, drag.snap.xs, reach);
        const sx1 = nearest(x0 + f.w, drag.snap.xs, reach);
        if (sx0 !== null && (sx1 === null || Math.abs(sx0 - x0) <= Math.abs(sx1 - x0 - f.w))) x0 = sx0;
        else if (sx1 !== null) x0 = sx1 - f.w;
        const sy0 = nearest(y0, drag.snap.ys, reach);
        const sy1 = nearest(y0 + f.h, drag.snap.ys, reach);
        if (sy0 !== null && (sy1 === null || Math.abs(sy0 - y0) <= Math.abs(sy1 - y0 - f.h))) y0 = sy0;
        else if (sy1 !== null) y0 = sy1 - f.h;
        x1 = x0 + f.w;
        y1 = y0 + f.h;
      } else {
        const snapX = (v) => nearest(v, drag.snap.xs, reach) ?? v;
        const snapY = (v) => nearest(v, drag.snap.ys, reach) ?? v;
        if (e.includes("w")) x0 = clamp(snapX(f.x + dx), 0, x1 - MIN_SIDE);
        if (e.includes("e")) x1 = clamp(snapX(f.x + f.w + dx), x0 + MIN_SIDE, W);
        if (e.includes("n")) y0 = clamp(snapY(f.y + dy), 0, y1 - MIN_SIDE);
        if (e.includes("s")) y1 = clamp(snapY(f.y + f.h + dy), y0 + MIN_SIDE, H);
      }
      const b = { x: Math.round(x0), y: Math.round(y0), w: Math.round(x1 - x0), h: Math.round(y1 - y0) };
      Object.assign(drag.el.dataset, { x: b.x, y: b.y, w: b.w, h: b.h });
      place(drag.el, b);
      fill(drag.el.dataset.panel, b);
    }

    function fill(panel, b) {
      const form = document.getElementById(`box-form-${panel}`);
      if (!form) return null;
      for (const key of ["x", "y", "w", "h"]) form.elements[key].value = b[key];
      return form;
    }

    function stop() {
      const d = drag;
      drag = null;
      cancelDrag = null;
      d.el.classList.remove("dragging");
      d.el.removeEventListener("pointermove", move);
      d.el.removeEventListener("pointerup", end);
      d.el.removeEventListener("pointercancel", cancel);
      return d;
    }

    function end() {
      if (!drag) return;
      const d = stop();
      const b = read(d.el);
      const same = b.x === d.from.x && b.y === d.from.y && b.w === d.from.w && b.h === d.from.h;
      if (!d.moved || same) return;
      const form = fill(d.el.dataset.panel, b);
      if (form) form.requestSubmit();
    }

    function cancel() {
      if (!drag) return;
      const d = stop();
      Object.assign(d.el.dataset, { x: d.from.x, y: d.from.y, w: d.from.w, h: d.from.h });
      place(d.el, d.from);
      fill(d.el.dataset.panel, d.from);
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && cancelDrag) cancelDrag();
  });

  init(document);
  // htmx swaps in a fresh panels fragment after every save: set its boxes up too.
  document.body.addEventListener("htmx:load", (event) => init(event.detail.elt));
})();
