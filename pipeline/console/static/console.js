// costline console: draws the charts the server described in data-chart /
// data-series attributes with uPlot, and submits a <select data-autosubmit>
// when it changes. No inline script anywhere (the CSP forbids it); htmx does
// the live refreshes.
(function () {
  "use strict";
  var palette = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#64748b"];

  function money(v) {
    if (v == null) return "";
    var abs = Math.abs(v);
    return "$" + v.toFixed(abs >= 1 || abs === 0 ? 2 : abs >= 0.01 ? 4 : 6);
  }

  function width(el) {
    return Math.max(200, Math.floor(el.getBoundingClientRect().width));
  }

  function stacked(el, d) {
    if (!d.x.length) {
      el.textContent = "No data in this range.";
      el.classList.add("empty");
      return;
    }
    // Stack: each series is drawn as the running sum of itself and those before it,
    // top layer first, so each fill covers the part below it.
    var sums = [];
    var running = d.x.map(function () {
      return 0;
    });
    d.series.forEach(function (s) {
      running = running.map(function (v, i) {
        return v + s[i];
      });
      sums.push(running.slice());
    });
    var order = d.labels
      .map(function (_, i) {
        return i;
      })
      .reverse();
    var data = [d.x].concat(
      order.map(function (i) {
        return sums[i];
      }),
    );
    var series = [{}].concat(
      order.map(function (i) {
        var color = palette[i % palette.length];
        return {
          label: d.labels[i],
          stroke: color,
          fill: color + "cc",
          width: 1,
          value: function (u, v, si, di) {
            return di == null ? "" : money(d.series[i][di]);
          },
        };
      }),
    );
    return new uPlot(
      {
        width: width(el),
        height: 280,
        series: series,
        axes: [
          {},
          {
            values: function (u, vals) {
              return vals.map(money);
            },
            size: 70,
          },
        ],
      },
      data,
      el,
    );
  }

  function burn(el, d) {
    var xs = [d.start].concat(
      d.burn.map(function (b) {
        return b.t;
      }),
      [d.now, d.end],
    );
    var spend = [0].concat(
      d.burn.map(function (b) {
        return b.spend;
      }),
      [d.spend, null],
    );
    var budget = xs.map(function () {
      return d.amount;
    });
    var forecast = xs.map(function (x) {
      return x < d.now ? null : x === d.now ? d.spend : d.forecast;
    });
    return new uPlot(
      {
        width: width(el),
        height: 180,
        series: [
          {},
          { label: "spend", stroke: "#2563eb", fill: "#2563eb33", width: 2 },
          { label: "budget", stroke: "#dc2626", dash: [6, 4], width: 1 },
          { label: "forecast", stroke: "#d97706", dash: [2, 3], width: 2 },
        ],
        axes: [
          {},
          {
            values: function (u, vals) {
              return vals.map(money);
            },
            size: 70,
          },
        ],
      },
      [xs, spend, budget, forecast],
      el,
    );
  }

  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var d = JSON.parse(el.dataset.series || "{}");
      var plot = el.dataset.chart === "stacked" ? stacked(el, d) : burn(el, d);
      if (plot) {
        new ResizeObserver(function () {
          plot.setSize({ width: width(el), height: plot.height });
        }).observe(el);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () {
        s.form.submit();
      });
    });
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    draw(e.target);
  });
})();
