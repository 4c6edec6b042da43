// Turnaround's page behaviour: keyboard culling on the candidate grid, as in photo-culling tools.
// Arrows move between cards, S shortlists, X rejects, A approves, Enter opens the full view, Esc closes.
(() => {
  "use strict";

  const cards = () => Array.from(document.querySelectorAll("#candidate-grid .card"));
  let focusedId = null;

  function focusCard(card) {
    if (!card) return;
    card.focus({ preventScroll: false });
    focusedId = card.id;
  }

  function current() {
    const active = document.activeElement && document.activeElement.closest(".card");
    return active || (focusedId && document.getElementById(focusedId)) || null;
  }

  function move(delta) {
    const list = cards();
    if (!list.length) return;
    const at = list.indexOf(current());
    const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + delta));
    focusCard(list[next]);
  }

  function press(key) {
    const card = current();
    const button = card && card.querySelector(`button[data-key="${key}"]`);
    if (button) button.click();
  }

  function openFull() {
    const card = current();
    const link = card && card.querySelector("a.full-link");
    const dialog = document.getElementById("fullview");
    if (!link || !dialog) return;
    dialog.querySelector("img").src = link.href;
    dialog.showModal();
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!document.getElementById("candidate-grid")) return;
    const dialog = document.getElementById("fullview");
    if (dialog && dialog.open) return; // the dialog closes itself on Esc
    const actions = {
      ArrowRight: () => move(1), ArrowDown: () => move(1),
      ArrowLeft: () => move(-1), ArrowUp: () => move(-1),
      s: () => press("s"), x: () => press("x"), a: () => press("a"),
      Enter: openFull, f: openFull,
    };
    const action = actions[event.key] || actions[event.key.toLowerCase()];
    if (action) { event.preventDefault(); action(); }
  });

  document.addEventListener("click", (event) => {
    const link = event.target.closest(".card a.full-link");
    if (!link || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    focusCard(link.closest(".card"));
    openFull();
  });

  // A card swapped in by htmx replaces the focused element: keep the focus on its successor.
  document.addEventListener("htmx:afterSwap", () => {
    if (focusedId && !document.activeElement.closest(".card")) {
      const again = document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
  });

  document.addEventListener("click", (event) => {
    const dialog = document.getElementById("fullview");
    if (dialog && event.target === dialog) dialog.close();
  });
})();

// Pending cards: the server sends the elapsed seconds once and answers later polls with 204
// while nothing changed, so the browser keeps the count going. Relative to when the card
// arrived, so the two clocks never need to agree.
(() => {
  "use strict";
  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll(".elapsed[data-elapsed]").forEach((el) => {
      if (!el.dataset.arrived) el.dataset.arrived = String(now);
      const seconds = Number(el.dataset.elapsed) + Math.floor((now - Number(el.dataset.arrived)) / 1000);
      el.textContent = `${seconds} s`;
    });
  }, 1000);
})();

// Before/after wipes (a panel's revisions, a shot's renders): the range moves the divide.
(() => {
  "use strict";
  document.addEventListener("input", (event) => {
    const range = event.target.closest("[data-wipe-range]");
    if (!range) return;
    const wipe = range.closest("section, .wipe-block")?.querySelector("[data-wipe]");
    if (wipe) wipe.style.setProperty("--wipe", `${range.value}%`);
  });
})();
