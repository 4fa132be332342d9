/*
 * Draws the Plotly charts on a page without inline script (CSP: script-src 'self').
 *
 * Markup: <div data-chart="fig-id"></div> plus
 *         <script type="application/json" id="fig-id">{"data": [...], "layout": {...}}</script>
 * Needs the vendored plotly bundle loaded first (static/vendor, see docs/charts.md).
 * Sets data-chart-ready="1" on the element once the plot has been drawn.
 */
(function () {
  "use strict";

  function readFigure(el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source) {
      throw new Error("charts.js: no figure element #" + el.dataset.chart);
    }
    return JSON.parse(source.textContent);
  }

  function draw(el, fig, method) {
    delete el.dataset.chartReady;
    return window.Plotly[method](el, fig.data, fig.layout || {}, fig.config || {}).then(
      function () {
        el.dataset.chartReady = "1";
        return el;
      }
    );
  }

  /** Draw the chart for one [data-chart] element from its JSON figure. */
  function render(el) {
    return draw(el, readFigure(el), "newPlot");
  }

  /** Replace an element's chart with a new figure dict (for live updates). */
  function update(el, fig) {
    return draw(el, fig, "react");
  }

  function renderAll() {
    var elements = document.querySelectorAll("[data-chart]");
    return Promise.all(
      Array.prototype.map.call(elements, function (el) {
        return render(el).catch(function (error) {
          el.dataset.chartReady = "error";
          console.error(error);
        });
      })
    );
  }

  window.RecoveryCharts = { render: render, update: update, renderAll: renderAll };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
