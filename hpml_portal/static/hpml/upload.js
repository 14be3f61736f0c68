// The dataset upload form sends a chosen file with a progress bar. The portal answers an
// accepted upload with the new version's page to go to (where the worker's ingest progress
// shows), and a refused one with the form again, its errors beside the fields, which replaces
// this page's content. Without a file (a URL, a query, a built-in set) the form posts as usual.
(function () {
  "use strict";

  function size(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit ? value.toFixed(1) : value) + " " + units[unit];
  }

  function refused(html) {
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
    const here = document.getElementById("content");
    if (fresh && here) {
      here.replaceWith(fresh);
      start();
    } else {
      document.open(); document.write(html); document.close();
    }
  }

  function send(form, event) {
    const file = form.querySelector("input[type=file]");
    if (!file || !file.files.length) { return; }
    event.preventDefault();
    const box = document.getElementById("hpml-upload-progress");
    const bar = box.querySelector("progress");
    const text = box.querySelector("span");
    const submit = document.getElementById("hpml-upload-submit");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      bar.value = e.loaded / e.total;
      text.textContent = Math.round((100 * e.loaded) / e.total) + "% of " + size(e.total) + " sent";
    });
    xhr.upload.addEventListener("load", function () { text.textContent = "sent; checking it..."; });
    xhr.addEventListener("load", function () {
      const type = xhr.getResponseHeader("Content-Type") || "";
      if (xhr.status === 200 && type.startsWith("application/json")) {
        window.location.assign(JSON.parse(xhr.responseText).redirect);
      } else {
        refused(xhr.responseText);
      }
    });
    xhr.addEventListener("error", function () {
      text.textContent = "The upload did not reach the portal (connection lost). Try again.";
      submit.disabled = false;
    });
    box.hidden = false;
    submit.disabled = true;
    xhr.send(new FormData(form));
  }

  function start() {
    const form = document.getElementById("hpml-upload-form");
    if (form) { form.addEventListener("submit", function (event) { send(form, event); }); }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
