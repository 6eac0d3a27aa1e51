// The CDRs page's chart: energy (bars) and revenue excl. VAT (a line per currency) per day,
// drawn with uPlot from the figures the page carries as JSON in a non-executable script block
// (the Content-Security-Policy runs no inline script).
(function () {
  "use strict";
  const holder = document.getElementById("cdr-chart");
  const figures = document.getElementById("cdr-series");
  if (!holder || !figures || !window.uPlot) {
    return;
  }
  const series = JSON.parse(figures.textContent);
  if (!series.days.length) {
    return;
  }
  const HEIGHT = 260;
  const DAY = 86400;
  const COLOURS = ["#1f5fbf", "#b3261e", "#8a5a00", "#6b3fa0", "#00796b"];
  const currencies = Object.keys(series.revenue);
  const xs = series.days.map(function (day) {
    return Date.parse(day + "T00:00:00Z") / 1000;
  });

  const fromZero = function (u, min, max) {
    return [Math.min(0, min), max > 0 ? max * 1.1 : 1];
  };
  const dayOf = function (ts) {
    return new Date(ts * 1000).toISOString().slice(0, 10);
  };

  const options = {
    width: holder.clientWidth || 600,
    height: HEIGHT,
    // The days are UTC days: shown as such whatever the browser's time zone.
    tzDate: function (ts) {
      return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
    },
    scales: {
      x: {
        time: true,
        // Half a day on each side, so that the first and last bars are whole.
        range: function () {
          return [xs[0] - DAY / 2, xs[xs.length - 1] + DAY / 2];
        },
      },
      // Bars stand on zero; revenue may go below it (credits).
      kwh: { range: fromZero },
      money: { range: fromZero },
    },
    series: [
      { label: "Day", value: "{YYYY}-{MM}-{DD}" },
      {
        label: "Energy (kWh)",
        scale: "kwh",
        stroke: "#1b7f3b",
        fill: "rgba(27, 127, 59, 0.18)",
        paths: uPlot.paths.bars({ size: [0.6, 48] }),
        points: { show: false },
      },
    ].concat(
      currencies.map(function (currency, n) {
        return {
          label: "Revenue (" + currency + ")",
          scale: "money",
          stroke: COLOURS[n % COLOURS.length],
          width: 2,
        };
      })
    ),
    axes: [
      {
        // Ticks on whole days, named by their date.
        incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 182 * DAY, 364 * DAY],
        values: function (u, splits) {
          return splits.map(dayOf);
        },
      },
      { scale: "kwh", label: "kWh" },
      { scale: "money", side: 1, label: "revenue excl. VAT", grid: { show: false } },
    ],
  };
  const data = [xs, series.energy].concat(
    currencies.map(function (currency) {
      return series.revenue[currency];
    })
  );
  const chart = new uPlot(options, data, holder);
  window.addEventListener("resize", function () {
    chart.setSize({ width: holder.clientWidth, height: HEIGHT });
  });
  holder.dataset.drawn = "true";
})();
