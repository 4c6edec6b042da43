// Turnaround's page behaviour: keyboard culling on the candidate grid, as in photo-culling tools.
// Arrows move between cards, S shortlists, X rejects, A approves (asking once: Enter accepts,
// Esc cancels), Enter opens the full view. The full view is a review mode: the same keys act on
// the candidate shown, ← → move through them, a counter says where you are, Esc closes.
(() => {
  "use strict";

  const cards = () => Array.from(document.querySelectorAll("#candidate-grid .card"));
  const viewable = () => cards().filter((c) => c.querySelector("a.full-link"));
  const dialog = () => document.getElementById("fullview");
  let focusedId = null;
  let shownId = null; // the candidate the full view shows

  function mark(card) {
    cards().forEach((c) => c.classList.toggle("focused", c === card));
  }

  function focusCard(card) {
    if (!card) return;
    focusedId = card.id;
    mark(card);
    const full = dialog();
    if (!(full && full.open)) card.focus({ preventScroll: false });
  }

  function current() {
    const active = document.activeElement && document.activeElement.closest(".card");
    return active || (focusedId && document.getElementById(focusedId)) || null;
  }

  function move(delta) {
    const full = dialog();
    const list = full && full.open ? viewable() : cards();
    if (!list.length) return;
    const at = list.indexOf(current());
    const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + delta));
    focusCard(list[next]);
    if (full && full.open) showFull();
  }

  function press(key) {
    const card = current();
    const button = card && card.querySelector(`button[data-key="${key}"]`);
    if (!button) return;
    // A card htmx has just swapped in gets its handlers when the swap settles (20 ms later): a
    // key pressed in between would submit the form as a plain page load. Process it now
    // (htmx skips what it has already processed).
    if (window.htmx && button.form) htmx.process(button.form);
    button.click();
  }

  // The full view shows the current card at full resolution, where it is in the list and the
  // decision taken on it (in words, not by colour alone).
  function showFull() {
    const card = current();
    const link = card && card.querySelector("a.full-link");
    const full = dialog();
    if (!link || !full) return false;
    shownId = card.id;
    const list = viewable();
    const img = full.querySelector("img");
    if (img.getAttribute("src") !== link.href) img.src = link.href;
    img.alt = card.querySelector("img") ? card.querySelector("img").alt : "";
    full.querySelector(".counter").textContent = `${list.indexOf(card) + 1} / ${list.length}`;
    const decision = card.querySelector(".decision");
    const state = full.querySelector(".state");
    state.textContent = decision ? decision.textContent.trim() : "";
    state.dataset.decision = (card.className.match(/decision-(\w+)/) || [])[1] || "";
    return true;
  }

  function openFull() {
    const full = dialog();
    if (!full || !showFull()) return;
    mark(current());
    full.showModal();
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.matches("input, textarea, select")) return;
    // In a confirmation the focused button takes Enter; Esc cancels.
    const confirm = target.closest(".confirm");
    if (confirm) {
      if (event.key === "Escape") {
        event.preventDefault();
        const cancel = confirm.querySelector("[data-cancel]");
        if (cancel) cancel.click();
      }
      return;
    }
    if (!document.getElementById("candidate-grid")) return;
    if (target.matches("button, a") && (event.key === "Enter" || event.key === " ")) return;
    const full = dialog();
    const reviewing = full && full.open;
    const actions = {
      ArrowRight: () => move(1), ArrowDown: () => move(1),
      ArrowLeft: () => move(-1), ArrowUp: () => move(-1),
      s: () => press("s"), x: () => press("x"),
      // Approving asks in the card: close the full view so the question can be answered.
      a: () => { if (reviewing) full.close(); press("a"); },
    };
    if (!reviewing) { actions.Enter = openFull; actions.f = openFull; }
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

  // Whatever inside a card gets the focus (a click on its button too), that card is current.
  document.addEventListener("focusin", (event) => {
    const card = event.target.closest && event.target.closest("#candidate-grid .card");
    if (card) { focusedId = card.id; mark(card); }
  });

  // A card swapped in by htmx replaces the focused element: keep the focus on its successor,
  // or on its confirmation's button when the swap asked a question; keep the full view current.
  document.addEventListener("htmx:afterSwap", () => {
    const full = dialog();
    const reviewing = full && full.open;
    const again = focusedId && document.getElementById(focusedId);
    const question = again && again.querySelector(".confirm [autofocus]");
    if (question && !reviewing) {
      question.focus();
    } else if (again && !document.activeElement.closest(".card")) {
      mark(again);
      if (!reviewing) again.focus({ preventScroll: true });
    }
    if (reviewing) showFull();
  });

  document.addEventListener("click", (event) => {
    const full = dialog();
    if (full && event.target === full) full.close();
  });

  // Closing the full view leaves the focus on the candidate last shown, not where it opened.
  const full = dialog();
  if (full) {
    full.addEventListener("close", () => {
      // The dialog has just handed the focus back to where it opened; move it on.
      const last = shownId && document.getElementById(shownId);
      if (last) focusCard(last);
    });
  }
})();

// Copy buttons: <button data-copy="#id"> copies that field's value (share and invite links).
(() => {
  "use strict";
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const field = document.querySelector(button.dataset.copy);
    if (!field) return;
    const text = field.value || field.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      field.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
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
