// The drawing pad of the "try it" form, for models whose input is a one-channel image. Strokes
// (pointer events: mouse, touch and pen alike) are cropped to their square bounding box, as
// image datasets centre and scale what they hold, then averaged down to the input's height x
// width and scaled to the range of the training data; the row goes into the request body.
// Cells inked from the keyboard are already on the input's grid, so they are not cropped.
// The preview draws the row the body holds, drawn or read from a dataset.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const box = document.querySelector(".hpml-tryit");
  const pad = box && box.querySelector(".hpml-tryit-pad");
  if (!pad) { return; }
  const canvas = document.getElementById("hpml-tryit-canvas");
  const preview = document.getElementById("hpml-tryit-preview");
  const body = document.getElementById("hpml-tryit-body");
  const status = document.getElementById("hpml-tryit-status");
  const rows = Number(pad.dataset.height);
  const cols = Number(pad.dataset.width);
  const low = Number(pad.dataset.low);
  const high = Number(pad.dataset.high);
  const ink = canvas.getContext("2d", { willReadFrequently: true });
  const shown = preview.getContext("2d");
  const cursor = { row: Math.floor(rows / 2), col: Math.floor(cols / 2) };
  // Large inputs (28x28 and up) keep a border around the figure, as MNIST-like sets do.
  const margin = rows >= 16 ? 0.15 : 0;
  let last = null; // where the pointer was, while a stroke goes on
  let crop = true;
  let values = null;

  function pen() {
    ink.lineCap = "round";
    ink.lineJoin = "round";
    ink.lineWidth = Math.max(canvas.width, canvas.height) / 10;
    ink.strokeStyle = ink.fillStyle = getComputedStyle(canvas).color;
  }

  function at(event) {
    const r = canvas.getBoundingClientRect();
    return { x: (event.clientX - r.left) * canvas.width / r.width, y: (event.clientY - r.top) * canvas.height / r.height };
  }

  function stroke(from, to) {
    pen();
    ink.beginPath();
    ink.moveTo(from.x, from.y);
    ink.lineTo(to.x, to.y);
    ink.stroke();
  }

  // The square around what is inked (alpha > 0), widened by the margin; null when blank.
  function bounds(alpha) {
    let top = canvas.height, left = canvas.width, bottom = -1, right = -1;
    for (let y = 0; y < canvas.height; y++) {
      for (let x = 0; x < canvas.width; x++) {
        if (alpha[(y * canvas.width + x) * 4 + 3] > 0) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) { return null; }
    if (!crop) { return { x: 0, y: 0, w: canvas.width, h: canvas.height }; }
    const side = Math.max(bottom - top + 1, right - left + 1) * (1 + 2 * margin);
    const aspect = cols / rows;
    const w = aspect >= 1 ? side * aspect : side;
    const h = aspect >= 1 ? side : side / aspect;
    return { x: (left + right + 1 - w) / 2, y: (top + bottom + 1 - h) / 2, w: w, h: h };
  }

  // The mean ink (0 to 1) of each cell of the grid laid over the area; outside the pad is blank.
  function downsample(alpha, area) {
    const out = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const x0 = Math.floor(area.x + c * area.w / cols), x1 = Math.ceil(area.x + (c + 1) * area.w / cols);
        const y0 = Math.floor(area.y + r * area.h / rows), y1 = Math.ceil(area.y + (r + 1) * area.h / rows);
        let sum = 0;
        for (let y = Math.max(0, y0); y < Math.min(canvas.height, y1); y++) {
          for (let x = Math.max(0, x0); x < Math.min(canvas.width, x1); x++) {
            sum += alpha[(y * canvas.width + x) * 4 + 3];
          }
        }
        out.push(sum / (255 * Math.max(1, (x1 - x0) * (y1 - y0))));
      }
    }
    return out;
  }

  function fill() {
    const alpha = ink.getImageData(0, 0, canvas.width, canvas.height).data;
    const area = bounds(alpha);
    if (!area) { return; }
    const row = downsample(alpha, area).map((v) => Math.round((low + v * (high - low)) * 1000) / 1000);
    body.value = JSON.stringify({ instances: [row] });
    status.textContent = "drawn: " + row.length + " values, ready to predict";
    draw(row);
  }

  function draw(row) {
    values = row;
    const cw = preview.width / cols, ch = preview.height / rows;
    shown.clearRect(0, 0, preview.width, preview.height);
    shown.fillStyle = getComputedStyle(preview).color;
    (row || []).forEach(function (v, i) {
      shown.globalAlpha = Math.min(1, Math.max(0, (v - low) / (high - low)));
      shown.fillRect((i % cols) * cw, Math.floor(i / cols) * ch, cw, ch);
    });
    shown.globalAlpha = 1;
    if (canvas.matches(":focus-visible")) {
      shown.strokeStyle = getComputedStyle(preview).outlineColor;
      shown.lineWidth = 2;
      shown.strokeRect(cursor.col * cw + 1, cursor.row * ch + 1, cw - 2, ch - 2);
    }
  }

  function clear() {
    ink.clearRect(0, 0, canvas.width, canvas.height);
    crop = true;
    draw(null);
    status.textContent = "pad cleared";
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!last) { return; }
    const point = at(event);
    stroke(last, point);
    last = point;
  });
  function end() {
    if (last) { last = null; fill(); }
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  canvas.addEventListener("keydown", function (event) {
    if (moves[event.key]) {
      event.preventDefault();
      cursor.row = Math.min(rows - 1, Math.max(0, cursor.row + moves[event.key][0]));
      cursor.col = Math.min(cols - 1, Math.max(0, cursor.col + moves[event.key][1]));
      draw(values);
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      crop = false;
      pen();
      const cw = canvas.width / cols, ch = canvas.height / rows;
      ink.fillRect(cursor.col * cw, cursor.row * ch, cw, ch);
      fill();
    }
  });
  canvas.addEventListener("focus", function () { draw(values); });
  canvas.addEventListener("blur", function () { draw(values); });
  document.getElementById("hpml-tryit-clear").addEventListener("click", clear);
  box.addEventListener("hpml-tryit-instance", function (event) {
    const row = Array.isArray(event.detail) ? event.detail.flat(Infinity) : [];
    if (row.length === rows * cols) { draw(row); }
  });
});
