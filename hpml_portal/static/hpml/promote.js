// The promote page's sentence of what will change follows the alias as it is typed; without
// scripts the page lists what each alias would do instead.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  const input = document.getElementById("id_alias");
  const out = document.getElementById("hpml-promote-change");
  const moves = document.getElementById("hpml-promote-moves");
  if (!input || !out || !moves) { return; }
  const known = JSON.parse(moves.textContent);

  function show() {
    const alias = input.value.trim();
    const change = Object.prototype.hasOwnProperty.call(known, alias) ? known[alias] : alias + " " + out.dataset.newAlias;
    out.textContent = alias ? change : "";
  }

  input.addEventListener("input", show);
});
