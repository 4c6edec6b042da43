// The shot player: frame-accurate review of a render, in the page.
// A real render is an mp4 (<video>); the offline preview is an animated WebP, decoded frame by
// frame with the browser's ImageDecoder onto a <canvas> so it can be paused, stepped and noted
// like a video. Keys: ← → one frame, J play backwards, K pause, L play. The note form gets the
// moment ("at"), the render, and a still of the frame (a PNG drawn from the canvas/video),
// which the server checks like any other picture. Box drawing itself is annotate.js's.
(() => {
  "use strict";

  const surface = document.getElementById("surface");
  if (!surface) return;
  const controls = document.getElementById("player-controls");
  const scrub = document.getElementById("scrub");
  const out = document.getElementById("timecode");
  const toggle = document.getElementById("play-toggle");

  // 00:02.4 on screen; the form gets the moment to the millisecond (00:02.417), so a note
  // lands on the frame it was made on.
  const fmt = (t, digits = 1) => {
    const scale = 10 ** digits;
    const units = Math.round(t * scale);
    const m = Math.floor(units / (60 * scale));
    const s = Math.floor((units % (60 * scale)) / scale);
    const frac = String(units % scale).padStart(digits, "0");
    return `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}.${frac}`;
  };

  // --- sources: every frame of an animated image, or a video element --------------------------

  async function decodeFrames(src, mime) {
    if (!("ImageDecoder" in window)) return null;
    const data = await (await fetch(src, { credentials: "same-origin" })).arrayBuffer();
    const decoder = new ImageDecoder({ data, type: mime });
    await decoder.tracks.ready;
    await decoder.completed;
    const count = decoder.tracks.selectedTrack.frameCount;
    const frames = [];
    let at = 0;
    for (let i = 0; i < count; i++) {
      const { image } = await decoder.decode({ frameIndex: i });
      const start = Number.isFinite(image.timestamp) && i > 0 ? image.timestamp / 1e6 : at;
      const length = (image.duration || 100000) / 1e6;
      frames.push({ start, end: start + length, bitmap: await createImageBitmap(image) });
      image.close();
      at = start + length;
    }
    decoder.close();
    return frames;
  }

  async function blobUrl(src) {
    const response = await fetch(src, { credentials: "same-origin" });
    return URL.createObjectURL(await response.blob());
  }

  function frameIndex(frames, t) {
    for (let i = frames.length - 1; i >= 0; i--) if (t >= frames[i].start - 1e-6) return i;
    return 0;
  }

  // A picture of one moment of a render, for the before/after wipe.
  async function drawMoment(canvas) {
    const { frameSrc: src, mime, t } = canvas.dataset;
    const ctx = canvas.getContext("2d");
    if (mime.startsWith("video/")) {
      const video = document.createElement("video");
      video.muted = true;
      video.preload = "auto";
      video.src = await blobUrl(src);
      await new Promise((ok) => video.addEventListener("loadeddata", ok, { once: true }));
      video.currentTime = Math.min(+t, Math.max(0, video.duration - 0.01));
      await new Promise((ok) => video.addEventListener("seeked", ok, { once: true }));
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      return;
    }
    const frames = await decodeFrames(src, mime);
    if (!frames) {
      const img = new Image();
      img.src = src;
      await img.decode();
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      return;
    }
    ctx.drawImage(frames[frameIndex(frames, +t)].bitmap, 0, 0, canvas.width, canvas.height);
    canvas.dataset.drawn = "1";
  }

  function drawWipes() {
    document.querySelectorAll("canvas[data-frame-src]:not([data-drawing])").forEach((canvas) => {
      canvas.dataset.drawing = "1";
      drawMoment(canvas).catch(() => { canvas.dataset.failed = "1"; });
    });
  }

  // --- the player ------------------------------------------------------------------------------

  let player = null;

  function form() { return document.getElementById("annotation-form"); }

  async function setup() {
    const media = document.getElementById("player-media");
    if (!media || !media.dataset.src || media.dataset.ready) return;
    media.dataset.ready = "1";
    const mime = media.dataset.mime;
    const fps = +media.dataset.fps || 24;
    const p = { t: 0, playing: 0, duration: 0, render: media.dataset.render, last: 0, media };
    if (mime.startsWith("video/")) {
      const video = media.querySelector("video");
      // From a blob, so every frame is seekable whether or not the server answers ranges.
      video.src = await blobUrl(media.dataset.src);
      video.controls = false; // the player's own controls take over (and drawing needs the clicks)
      p.video = video;
      p.ready = new Promise((ok) => {
        if (video.readyState >= 1) ok();
        else video.addEventListener("loadedmetadata", ok, { once: true });
      });
      await p.ready;
      p.duration = video.duration;
      p.draw = () => {};
      p.seekTo = (t) => { video.currentTime = t; };
      p.step = (dir) => Math.round(p.t * fps + dir) / fps + 0.001;
      p.source = () => video;
    } else {
      const frames = await decodeFrames(media.dataset.src, mime).catch(() => null);
      if (!frames || !frames.length) return; // the <img> keeps animating; notes take a typed time
      const img = media.querySelector("img");
      const canvas = document.createElement("canvas");
      canvas.width = frames[0].bitmap.width;
      canvas.height = frames[0].bitmap.height;
      canvas.className = "player-canvas";
      canvas.setAttribute("aria-label", img.alt);
      img.replaceWith(canvas);
      const ctx = canvas.getContext("2d");
      p.frames = frames;
      p.duration = frames[frames.length - 1].end;
      p.draw = () => ctx.drawImage(frames[frameIndex(frames, p.t)].bitmap, 0, 0);
      p.seekTo = () => {};
      p.step = (dir) => {
        const i = Math.min(frames.length - 1, Math.max(0, frameIndex(frames, p.t) + dir));
        return frames[i].start;
      };
      p.source = () => canvas;
    }
    player = p;
    controls.hidden = false;
    media.dataset.duration = p.duration.toFixed(3);
    seek(0);
  }

  function emit() {
    const p = player;
    out.textContent = fmt(p.t);
    scrub.value = String(Math.round((p.t / (p.duration || 1)) * 1000));
    toggle.textContent = p.playing ? "Pause" : "Play";
    surface.dataset.time = p.t.toFixed(3);
    const f = form();
    if (f) {
      if (document.activeElement !== f.elements.at) f.elements.at.value = fmt(p.t, 3);
      f.elements.render.value = p.render || "";
    }
    surface.dispatchEvent(new CustomEvent("player:time", { detail: { t: p.t, render: p.render } }));
  }

  function seek(t) {
    const p = player;
    if (!p) return;
    p.t = Math.min(p.duration, Math.max(0, t));
    p.seekTo(p.t);
    p.draw();
    emit();
    if (!p.playing) scheduleCapture();
  }

  function play(direction) {
    const p = player;
    if (!p) return;
    if (direction > 0 && p.t >= p.duration - 0.001) seek(0);
    p.playing = direction;
    p.last = performance.now();
    if (p.video && direction > 0) p.video.play();
    else if (p.video) p.video.pause();
    requestAnimationFrame(tick);
    emit();
  }

  function pause() {
    const p = player;
    if (!p || !p.playing) return;
    p.playing = 0;
    if (p.video) { p.video.pause(); p.t = p.video.currentTime; }
    emit();
    scheduleCapture();
  }

  function tick(now) {
    const p = player;
    if (!p || !p.playing) return;
    // rAF's timestamp is the frame's start, which can be a little before play() was called.
    const dt = Math.max(0, (now - p.last) / 1000);
    p.last = Math.max(p.last, now);
    if (p.video && p.playing > 0) p.t = p.video.currentTime;
    else {
      p.t += dt * p.playing;
      if (p.video) p.video.currentTime = Math.max(0, p.t);
    }
    if ((p.playing > 0 && p.t >= p.duration) || (p.playing < 0 && p.t <= 0)) {
      p.t = Math.min(p.duration, Math.max(0, p.t));
      p.draw();
      pause();
      return;
    }
    p.draw();
    emit();
    requestAnimationFrame(tick);
  }

  function stepFrame(dir) {
    if (!player) return;
    pause();
    seek(player.step(dir));
  }

  // The still: the frame on screen as a PNG, put in the form's file input.
  let captureTimer = null;
  function scheduleCapture() {
    clearTimeout(captureTimer);
    captureTimer = setTimeout(capture, 120);
  }

  function capture() {
    const p = player;
    const f = form();
    if (!p || !f || !f.elements.still) return;
    const from = p.source();
    const canvas = document.createElement("canvas");
    canvas.width = p.video ? p.video.videoWidth : from.width;
    canvas.height = p.video ? p.video.videoHeight : from.height;
    if (!canvas.width || !canvas.height) return;
    canvas.getContext("2d").drawImage(from, 0, 0, canvas.width, canvas.height);
    const at = p.t;
    canvas.toBlob((blob) => {
      if (!blob) return;
      const still = new DataTransfer();
      still.items.add(new File([blob], `frame-${at.toFixed(2)}.png`, { type: "image/png" }));
      const current = form();
      if (!current) return;
      current.elements.still.files = still.files;
      const status = document.getElementById("still-status");
      if (status) status.textContent = `Frame at ${fmt(at)} attached`;
    }, "image/png");
  }

  // --- wiring ----------------------------------------------------------------------------------

  controls.addEventListener("click", (event) => {
    const action = event.target.closest("[data-player]");
    if (!action || !player) return;
    ({
      back: () => stepFrame(-1),
      forward: () => stepFrame(1),
      toggle: () => (player.playing ? pause() : play(1)),
    })[action.dataset.player]();
  });
  scrub.addEventListener("input", () => {
    if (!player) return;
    pause();
    seek((+scrub.value / 1000) * player.duration);
  });
  surface.addEventListener("annotate:start", pause);

  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-seek]");
    if (!link || !player) return;
    event.preventDefault();
    pause();
    seek(+link.dataset.seek);
  });

  // A typed moment moves the player there.
  document.addEventListener("change", (event) => {
    if (!player || event.target.name !== "at" || !event.target.closest("#annotation-form")) return;
    const parts = event.target.value.split(":").map(Number);
    const t = parts.reduce((sum, v) => sum * 60 + v, 0);
    if (Number.isFinite(t)) { pause(); seek(t); }
  });

  // A fresh form (after a note is saved) gets the moment and the still again.
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "shot-notes" && player) { emit(); scheduleCapture(); }
    if (target && target.id === "player-media") { player = null; setup(); }
    drawWipes();
  });

  document.addEventListener("keydown", (event) => {
    if (!player || event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = {
      ArrowLeft: () => stepFrame(-1),
      ArrowRight: () => stepFrame(1),
      j: () => play(-1),
      k: pause,
      l: () => play(1),
      " ": () => (player.playing ? pause() : play(1)),
    };
    const action = keys[event.key] || keys[event.key.toLowerCase()];
    if (action) { event.preventDefault(); action(); }
  });

  setup();
  drawWipes();
})();
