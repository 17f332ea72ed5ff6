// The console's one script: live updates, the waveform, and the delete dialog. No framework.
"use strict";

// Live parts: an element with data-live gets its HTML from that server-sent event stream.
function followLive(element) {
  const initial = element.dataset.status;
  const source = new EventSource(element.dataset.live);
  source.onopen = () => { element.dataset.connected = "1"; };
  source.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.gone) {
      source.close();
      location.reload();
      return;
    }
    // A recording that becomes final gets its waveform and player: load the page again.
    if (initial !== undefined && data.status !== initial &&
        (data.status === "completed" || data.status === "absent")) {
      source.close();
      location.reload();
      return;
    }
    element.innerHTML = data.html;
  };
}

// The waveform: min/max peaks per column, drawn per channel, pauses laid over it by their
// data-start/data-end (seconds of the audio); a click or the arrow keys seek the player.
async function drawWaveform(box) {
  const player = document.getElementById("player");
  const duration = parseFloat(box.dataset.duration);
  const answer = await fetch(box.dataset.peaks, {credentials: "same-origin"});
  if (!answer.ok) return;
  const peaks = await answer.json();
  const canvases = box.querySelectorAll("canvas");
  const paint = () => canvases.forEach((canvas, channel) => {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth * ratio, height = canvas.clientHeight * ratio;
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    const lows = peaks.lows[channel], highs = peaks.highs[channel];
    const columns = lows.length;
    context.fillStyle = getComputedStyle(canvas).color;
    for (let x = 0; x < width; x++) {
      const first = Math.floor(x * columns / width);
      const last = Math.max(first + 1, Math.floor((x + 1) * columns / width));
      let low = 127, high = -128;
      for (let c = first; c < last && c < columns; c++) {
        low = Math.min(low, lows[c]);
        high = Math.max(high, highs[c]);
      }
      if (low > high) continue;
      const top = height / 2 - (high + 1) / 128 * height / 2;
      const bottom = height / 2 - low / 128 * height / 2;
      context.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
  });
  paint();
  box.dataset.drawn = "1";
  window.addEventListener("resize", paint);
  box.querySelectorAll(".span").forEach((span) => {
    const start = parseFloat(span.dataset.start), end = parseFloat(span.dataset.end);
    span.style.left = (100 * start / duration) + "%";
    span.style.width = span.dataset.behavior === "skip" ? "" : (100 * (end - start) / duration) + "%";
  });
  const cursor = box.querySelector(".cursor");
  const seek = (seconds) => {
    if (!player) return;
    player.currentTime = Math.min(Math.max(0, seconds), duration);
  };
  box.addEventListener("click", (event) => {
    const rect = box.getBoundingClientRect();
    seek((event.clientX - rect.left) / rect.width * duration);
  });
  box.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 30 : 5;
    const now = player ? player.currentTime : 0;
    if (event.key === "ArrowRight") seek(now + step);
    else if (event.key === "ArrowLeft") seek(now - step);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration);
    else if (event.key === " " && player) player.paused ? player.play() : player.pause();
    else return;
    event.preventDefault();
  });
  if (player) {
    player.addEventListener("timeupdate", () => {
      cursor.style.left = (100 * player.currentTime / duration) + "%";
      box.setAttribute("aria-valuenow", player.currentTime.toFixed(1));
      const whole = Math.floor(player.currentTime);
      box.setAttribute("aria-valuetext", Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0"));
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(followLive);
  const box = document.getElementById("waveform");
  if (box) drawWaveform(box);
  document.querySelectorAll("[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  document.querySelectorAll("[data-open-dialog]").forEach((button) => {
    const dialog = document.getElementById(button.dataset.openDialog);
    button.addEventListener("click", () => dialog.showModal());
    dialog.querySelectorAll("[data-close-dialog]").forEach((close) => {
      close.addEventListener("click", () => dialog.close());
    });
  });
});
