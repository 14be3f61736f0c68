// The train and sweep forms list the hyperparameters of every architecture; this shows only
// those of the chosen one. Rows of the others are hidden and their inputs disabled, so a value
// typed before switching architecture is kept in the page but not sent (the server refuses a
// hyperparameter the architecture lacks). A row showing an error stays, so it can be fixed.
(function () {
  "use strict";

  function init() {
    const rows = document.querySelectorAll("[data-architectures]");
    if (!rows.length) { return; }
    const form = rows[0].closest("form");
    const select = form && form.elements.namedItem("architecture");
    if (!select) { return; }

    function update() {
      rows.forEach(function (row) {
        const takes = row.dataset.architectures.split(" ").indexOf(select.value) !== -1;
        const shown = takes || row.classList.contains("errors");
        row.hidden = !shown;
        row.querySelectorAll("input, select, textarea").forEach(function (input) {
          input.disabled = !shown;
        });
      });
    }

    select.addEventListener("change", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
