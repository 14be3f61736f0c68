// The parts of an object's page that change while its job runs (a run's progress, curves and
// metrics; a dataset version's ingest) are fetched again every 2 s from the page's live.json and
// swapped in place until the job ends. Their HTML is rendered and escaped by the server, the
// same code that drew the page. When the job ends, the page's content is fetched once more and
// swapped in whole, for what only a finished job has (a run's devices and times, a dataset
// version's schema and statistics), without loading the page again.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const marker = document.getElementById("hpml-live");
  if (!marker) { return; }
  const EVERY_MS = 2000;

  function swap(parts) {
    Object.entries(parts).forEach(([name, html]) => {
      const node = document.getElementById("hpml-live-" + name);
      if (node) { node.outerHTML = html; }
    });
  }

  async function refresh() {
    const got = await fetch(window.location.href, { credentials: "same-origin" });
    if (!got.ok) { return; }
    const fresh = new DOMParser().parseFromString(await got.text(), "text/html");
    ["content-main", "content"].some((id) => {
      const here = document.getElementById(id);
      const there = fresh.getElementById(id);
      if (here && there) { here.replaceWith(there); return true; }
      return false;
    });
  }

  async function tick() {
    let done = false;
    try {
      const got = await fetch(marker.dataset.url, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (got.ok) {
        const data = await got.json();
        swap(data.parts);
        done = data.done;
        if (done) { await refresh(); }
      }
    } catch (e) { /* a dropped poll: the next one tries again */ }
    if (!done) { setTimeout(tick, EVERY_MS); }
  }
  setTimeout(tick, EVERY_MS);
});
