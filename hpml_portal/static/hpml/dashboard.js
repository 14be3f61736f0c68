// Refreshes the front page's panels from admin:dashboard every few seconds, without a reload.
// Values are set as text, never as HTML: run errors and names come from people's input.
(function () {
  "use strict";
  const root = document.getElementById("hpml-dashboard");
  if (!root) { return; }
  const EVERY_MS = 4000;

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  }

  function fill(id, items, empty, build) {
    const list = document.getElementById(id);
    list.replaceChildren(...(items.length ? items.map(build) : [empty()]));
  }

  function runItem(run) {
    const li = el("li");
    li.append(el("a", run.name, { href: run.url }), " " + run.status + " ");
    li.append(el("progress", null, { value: run.progress, max: 1, "aria-label": "progress of " + run.name }));
    const eta = run.eta_seconds ? ", about " + Math.round(run.eta_seconds) + " s left" : "";
    li.append(" epoch " + run.epoch + "/" + run.epochs + eta);
    return li;
  }

  function failureItem(run) {
    const li = el("li");
    li.append(el("a", run.name, { href: run.url }), ": " + run.error);
    return li;
  }

  function modelRow(model) {
    const tr = el("tr");
    const name = el("td");
    name.append(el("a", model.name, { href: model.url }));
    const version = (v) => (v ? "v" + v : "-");
    tr.append(name, el("td", model.team), el("td", version(model.production)),
      el("td", version(model.staging)), el("td", model.accuracy === null ? "-" : model.accuracy),
      el("td", model.requests_last_hour));
    return tr;
  }

  function noModels() {
    const tr = el("tr");
    tr.append(el("td", "No models yet.", { colspan: 6, class: "help" }));
    return tr;
  }

  function health(data) {
    const h = data.health;
    const workers = h.workers.length ? h.workers.length + " worker(s) answering" : "no worker answering";
    const queues = Object.entries(h.queues).map(([q, n]) => q + " " + n).join(", ");
    document.getElementById("hpml-health").textContent =
      "broker " + h.broker + "; " + workers + "; queued: " + queues;
    const stalled = Object.entries(h.stalled || {});
    const warning = document.getElementById("hpml-stalled");
    warning.hidden = !stalled.length;
    warning.querySelector("li").textContent = "No worker has taken a job for a while: " +
      stalled.map(([q, s]) => q + " (oldest waiting " + s + " s)").join(", ");
  }

  function render(data) {
    fill("hpml-runs", data.runs, () => el("li", "Nothing is training.", { class: "help" }), runItem);
    fill("hpml-failures", data.failures, () => el("li", "No failures.", { class: "help" }), failureItem);
    const body = document.querySelector("#hpml-models tbody");
    body.replaceChildren(...(data.models.length ? data.models.map(modelRow) : [noModels()]));
    health(data);
    root.dataset.refreshed = data.at;
  }

  async function refresh() {
    try {
      const answer = await fetch(root.dataset.url, { credentials: "same-origin" });
      if (answer.ok) { render(await answer.json()); }
    } catch (error) { /* offline for a moment: the next poll tries again */ }
    setTimeout(refresh, EVERY_MS);
  }
  setTimeout(refresh, EVERY_MS);
})();
