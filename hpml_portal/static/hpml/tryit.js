// The model page's "try it" form: GET on the predict URL fills in an example body for the alias;
// "Predict" POSTs the body with the session's CSRF token and shows the answer as it came.
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

  async function example() {
    const got = await fetch(url(), { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const data = await got.json();
    if (got.ok) {
      body.value = JSON.stringify(data.example);
      status.textContent = "version " + data.version + " answers for " + (data.alias || "this version");
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

  document.getElementById("hpml-tryit-send").addEventListener("click", send);
  alias.addEventListener("change", example);
  example();
});
