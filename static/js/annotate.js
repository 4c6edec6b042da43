// Drawing boxes on a panel or on a shot's frame. Regions are kept as fractions of the picture
// (0–1), so a box stays where it was drawn at any zoom or screen size. Works with mouse, pen and
// touch (pointer events), under the CSP (no inline code), and leaves every request to htmx.
// On a shot (the surface has data-timed) a saved box shows only around its note's moment: the
// player tells the time with a "player:time" event, and drawing pauses it ("annotate:start").
// A box drawn on another revision or render says so on the picture (data-rev-note).
(() => {
  "use strict";

  const surface = document.getElementById("surface");
  if (!surface) return;
  const layer = document.getElementById("boxes");
  const canDraw = surface.dataset.canDraw === "1";
  const listId = surface.dataset.notes || "annotations";
  const timed = surface.dataset.timed === "1";
  const NEAR = 0.3; // seconds either side of a note's moment where its box shows
  let now = 0;
  let draft = null; // {x, y, w, h} as fractions
  let draftEl = null;
  let start = null;

  const clamp = (v) => Math.min(1, Math.max(0, v));
  const pct = (v) => `${(v * 100).toFixed(3)}%`;

  function place(el, box) {
    el.style.left = pct(box.x);
    el.style.top = pct(box.y);
    el.style.width = pct(box.w);
    el.style.height = pct(box.h);
  }

  function point(event) {
    const rect = surface.getBoundingClientRect();
    return { x: clamp((event.clientX - rect.left) / rect.width), y: clamp((event.clientY - rect.top) / rect.height) };
  }

  // Boxes for the saved annotations, read from the list's data attributes.
  function renderBoxes() {
    layer.querySelectorAll(".box.saved").forEach((el) => el.remove());
    document.querySelectorAll(".annotation[data-annotation]").forEach((item) => {
      const box = { x: +item.dataset.x, y: +item.dataset.y, w: +item.dataset.w, h: +item.dataset.h };
      if (!(box.w > 0 && box.h > 0)) return;
      if (timed && Math.abs(+item.dataset.t - now) > NEAR) return;
      const el = document.createElement("div");
      el.className = `box saved ${item.dataset.open ? "open" : "resolved"} ${item.classList.contains("kind-continuity") ? "continuity" : "note"}`;
      el.dataset.annotation = item.dataset.annotation;
      el.textContent = item.dataset.label;
      if (item.dataset.revNote) {
        el.classList.add("other-rev");
        el.textContent += ` · ${item.dataset.revNote}`;
      }
      place(el, box);
      layer.appendChild(el);
    });
    if (draft && draftEl) layer.appendChild(draftEl);
  }

  function highlight(id, on) {
    document.querySelectorAll(`[data-annotation="${id}"]`).forEach((el) => el.classList.toggle("hot", on));
  }

  document.addEventListener("mouseover", (event) => {
    const el = event.target.closest("[data-annotation]");
    if (el) highlight(el.dataset.annotation, true);
  });
  document.addEventListener("mouseout", (event) => {
    const el = event.target.closest("[data-annotation]");
    if (el) highlight(el.dataset.annotation, false);
  });

  function form() { return document.getElementById("annotation-form"); }

  function fillForm() {
    const f = form();
    if (!f) return;
    for (const key of ["x", "y", "w", "h"]) f.elements[key].value = draft ? draft[key].toFixed(5) : "";
    if (!timed) f.classList.toggle("idle", !draft);
    if (draft) f.elements.body.focus();
  }

  function cancelDraft() {
    draft = null;
    if (draftEl) draftEl.remove();
    draftEl = null;
    fillForm();
  }

  if (canDraw) {
    surface.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      surface.dispatchEvent(new CustomEvent("annotate:start"));
      surface.setPointerCapture(event.pointerId);
      start = point(event);
      if (draftEl) draftEl.remove();
      draftEl = document.createElement("div");
      draftEl.className = "box draft";
      draftEl.tabIndex = 0;
      draft = { x: start.x, y: start.y, w: 0, h: 0 };
      place(draftEl, draft);
      layer.appendChild(draftEl);
    });
    surface.addEventListener("pointermove", (event) => {
      if (!start) return;
      const p = point(event);
      draft = { x: Math.min(start.x, p.x), y: Math.min(start.y, p.y), w: Math.abs(p.x - start.x), h: Math.abs(p.y - start.y) };
      place(draftEl, draft);
    });
    const finish = () => {
      if (!start) return;
      start = null;
      if (!draft || draft.w < 0.01 || draft.h < 0.01) { cancelDraft(); return; }
      fillForm();
    };
    surface.addEventListener("pointerup", finish);
    surface.addEventListener("pointercancel", cancelDraft);
  }

  document.addEventListener("keydown", (event) => {
    const typing = event.target.matches("input, textarea, select");
    if (event.key === "Escape" && draft) { event.preventDefault(); cancelDraft(); return; }
    if ((event.key === "Delete" || event.key === "Backspace") && draft && !typing) { event.preventDefault(); cancelDraft(); return; }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const f = event.target.closest("form");
      if (f) { event.preventDefault(); f.requestSubmit(); }
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest('[data-action="cancel-draft"]')) cancelDraft();
  });

  // After htmx swaps the annotation list in: redraw the saved boxes; a saved draft is done.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === listId) {
      const f = form();
      const failed = f && f.querySelector(".error");
      if (!failed) { draft = null; if (draftEl) draftEl.remove(); draftEl = null; }
      else if (draft) fillForm();
    }
    renderBoxes();
  });

  surface.addEventListener("player:time", (event) => {
    now = event.detail.t;
    renderBoxes();
  });

  renderBoxes();
})();
