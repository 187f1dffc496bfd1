/* tart-mailer admin: draws charts from JSON data blocks and asks before destructive actions.
   No inline script anywhere (the Content-Security-Policy forbids it): pages describe charts
   with <canvas data-chart="ID"> and a <script type="application/json" id="ID"> block. */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

  function drawCharts(root) {
    if (typeof Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) { return; }
      var spec = JSON.parse(source.textContent);
      spec.datasets.forEach(function (ds, i) {
        var color = ds.color || PALETTE[i % PALETTE.length];
        ds.borderColor = color;
        ds.backgroundColor = spec.type === "line" ? color + "33" : color;
        ds.tension = 0.2;
        delete ds.color;
      });
      var chart = new Chart(canvas, {
        type: spec.type || "line",
        data: { labels: spec.labels, datasets: spec.datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true, stacked: !!spec.stacked, ticks: { precision: 0 } },
                    x: { stacked: !!spec.stacked } },
          plugins: { legend: { position: "bottom" } }
        }
      });
      canvas.dataset.drawn = "1";
      window.tartCharts = window.tartCharts || [];
      window.tartCharts.push(chart);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // "Copy" buttons (data-copy="#id"): the text of a read-only field to the clipboard; without
  // script the field is still there to select and copy by hand.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var field = document.querySelector(button.dataset.copy);
    if (!field) { return; }
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.body.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
  });
})();
