// The model page's "try it" form: GET on the predict URL fills in an example body for the alias;
// "Predict" POSTs the body with the session's CSRF token and shows the answer as it came. A row
// of one of the team's dataset versions fills the body too (the admin's example URL reads it),
// and so does tryit-pad.js from a drawing. Whatever puts a row in the body announces it with an
// "hpml-tryit-instance" event on the form, which the pad's preview draws.
// Loaded in the page's head (admin media): it starts once the page is parsed.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const box = document.querySelector(".hpml-tryit");
  if (!box) { return; }
  const body = document.getElementById("hpml-tryit-body");
  const alias = document.getElementById("hpml-tryit-alias");
  const status = document.getElementById("hpml-tryit-status");
  const answer = document.getElementById("hpml-tryit-answer");

  function url() {
    return box.dataset.url + "&alias=" + encodeURIComponent(alias.value.trim() || "production");
  }

  function csrf() {
    const found = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return found ? found.split("=")[1] : (field ? field.value : "");
  }

  function announce(instance) {
    box.dispatchEvent(new CustomEvent("hpml-tryit-instance", { detail: instance }));
  }

  async function getJson(address) {
    const got = await fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    // A refusal from the admin itself (404, 403) is a page, not JSON.
    const data = await got.json().catch(() => ({}));
    return { got: got, data: data };
  }

  async function example() {
    const { got, data } = await getJson(url());
    if (got.ok) {
      body.value = JSON.stringify(data.example);
      status.textContent = "version " + data.version + " answers for " + (data.alias || "this version");
      announce((data.example.instances || [])[0]);
    } else {
      status.textContent = got.status + ": " + (data.detail || "");
    }
  }

  async function send() {
    status.textContent = "asking...";
    const got = await fetch(url(), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: body.value,
    });
    const text = await got.text();
    status.textContent = got.status === 200 ? "answered" : "refused (" + got.status + ")";
    try { answer.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { answer.textContent = text; }
  }

  async function useRow() {
    const dataset = document.getElementById("hpml-tryit-dataset");
    const row = document.getElementById("hpml-tryit-row");
    const label = document.getElementById("hpml-tryit-label");
    label.textContent = "reading...";
    const query = "?dataset_version=" + encodeURIComponent(dataset.value) + "&row=" + encodeURIComponent(row.value.trim());
    const { got, data } = await getJson(box.dataset.exampleUrl + query);
    if (!got.ok) {
      label.textContent = data.detail || "refused (" + got.status + ")";
      return;
    }
    body.value = JSON.stringify({ instances: [data.instance] });
    row.max = data.rows - 1;
    const source = data.source === data.dataset_version ? "" : " (raw values from " + data.source + ")";
    label.textContent = "row " + data.row + " of " + data.rows + " in " + data.dataset_version + source +
      ": true label " + JSON.stringify(data.label);
    announce(data.instance);
  }

  // Enter in these inputs would otherwise submit the admin's form around them.
  function onEnter(input, action) {
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); action(); }
    });
  }

  document.getElementById("hpml-tryit-send").addEventListener("click", send);
  alias.addEventListener("change", example);
  onEnter(alias, example);
  const fetchButton = document.getElementById("hpml-tryit-fetch");
  if (fetchButton) {
    fetchButton.addEventListener("click", useRow);
    onEnter(document.getElementById("hpml-tryit-row"), useRow);
  }
  example();
});
