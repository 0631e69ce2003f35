/* The management dashboards' charts (templates/analytics/dashboard.html), drawn with the vendored Apache ECharts.

   Each chart is a <div data-chart="ID"> beside a <script type="application/json" id="ID"> holding the panel's
   rows as analytics/charts.py wrote them: data, never run, so the staff CSP (no inline script, no eval) holds.
   Values arrive raw (a percent as its fraction, a duration in seconds) with their column kind, and are formatted
   here the way the table beside the chart writes them (analytics/display.py). Clicking a bar, a slice, a stage or
   a cell opens the drill-down of that row. Charts follow their box: on a phone the grid stacks them full width.

   <button data-fullscreen="ID">  shows that element full screen (the live wall) */
(function () {
  "use strict";

  var drawn = [];

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function duration(value, patterns) {
    var total = Math.round(Math.abs(value));
    var sign = value < 0 && total ? "-" : "";
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var pattern = h ? patterns.hms : (m ? patterns.ms : patterns.s);
    return sign + pattern.replace("%(h)d", String(h)).replace("%(m)02d", pad2(m)).replace("%(m)d", String(m))
      .replace("%(s)02d", pad2(s)).replace("%(s)d", String(s));
  }

  function formatter(kind, patterns) {
    return function (value) {
      if (value === null || value === undefined || value === "-" || isNaN(value)) return "—";
      var v = Number(value);
      if (kind === "percent") return (v * 100).toFixed(1) + "%";
      if (kind === "seconds") return duration(v, patterns);
      if (kind === "count") return Math.round(v).toLocaleString("en-US");
      if (kind === "score") return (v === Math.round(v) && Math.abs(v) >= 10) ? String(v) : v.toFixed(1);
      return String(value);
    };
  }

  /* A duration axis ticks on whole hours, minutes or seconds (2小时, 4小时 …), never on 2小时46分40秒. */
  function durationAxis(axis, max, patterns) {
    var unit = max >= 7200 ? 3600 : (max >= 120 ? 60 : 1);
    var pattern = unit === 3600 ? patterns.axis_h : (unit === 60 ? patterns.axis_m : patterns.axis_s);
    var raw = Math.max(max / unit / 5, 1);
    var power = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var m = raw / power;
    var step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power * unit;
    axis.interval = step;
    axis.max = function (extent) { return Math.max(step, Math.ceil(extent.max / step) * step); };
    axis.axisLabel.formatter = function (v) {
      return pattern.replace("%(n)s", String(Math.round(v / unit * 10) / 10));
    };
  }

  function maxOf(spec, kind) {
    var max = 0;
    spec.series.forEach(function (s) {
      if (s.kind !== kind) return;
      if (spec.kind === "stacked_bar") {
        s.data.forEach(function (v, i) {
          var sum = 0;
          spec.series.forEach(function (t) { if (t.kind === kind) sum += t.data[i] || 0; });
          max = Math.max(max, sum);
        });
      } else {
        s.data.forEach(function (v) { if (v !== null) max = Math.max(max, v); });
      }
    });
    return max;
  }

  /* Tooltips drawn on the canvas ("richText"), not as HTML: ECharts' HTML tooltips carry style="" attributes in
     their markup, which the staff CSP (style-src 'self') blocks. Text on a canvas is never markup, either. */
  function tooltip(options) {
    options.renderMode = "richText";
    options.confine = true;
    return options;
  }

  function cartesian(spec) {
    var kinds = [];
    spec.series.forEach(function (s) { if (kinds.indexOf(s.kind) < 0) kinds.push(s.kind); });
    kinds = kinds.slice(0, 2);
    var yAxis = kinds.map(function (kind) {
      var axis = { type: "value", axisLabel: {} };
      if (kind === "count") axis.minInterval = 1;  // no 0.5 of a conversation
      if (kind === "percent") axis.axisLabel.formatter = function (v) { return Math.round(v * 100) + "%"; };
      if (kind === "seconds") durationAxis(axis, maxOf(spec, kind), spec.durations);
      return axis;
    });
    var stacked = spec.kind === "stacked_bar";
    return {
      tooltip: tooltip({ trigger: "axis" }),
      legend: spec.series.length > 1 ? { top: 0, type: "scroll" } : undefined,
      grid: { left: 8, right: 8, top: spec.series.length > 1 ? 32 : 12, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.categories, axisLabel: { hideOverlap: true } },
      yAxis: yAxis,
      series: spec.series.map(function (s) {
        return {
          name: s.name, type: spec.kind === "line" ? "line" : "bar", data: s.data,
          stack: stacked ? "total" : undefined, yAxisIndex: Math.max(0, kinds.indexOf(s.kind)),
          tooltip: { valueFormatter: formatter(s.kind, spec.durations) }, cursor: "pointer"
        };
      })
    };
  }

  function sliced(spec) {
    var first = spec.series[0];
    var f = formatter(first.kind, spec.durations);
    var data = spec.categories.map(function (name, i) { return { name: name, value: first.data[i] }; });
    var series = { name: first.name, type: spec.kind, data: data, cursor: "pointer",
                   tooltip: { valueFormatter: f } };
    if (spec.kind === "pie") {
      series.radius = ["35%", "65%"];
      series.label = { formatter: function (p) { return p.name + "\n" + f(p.value); } };
    } else {
      series.sort = "none";  // a funnel's stages keep their order (visitor → … → enrolled)
      series.left = "10%"; series.width = "80%"; series.minSize = "8%";
      series.label = { position: "inside", formatter: function (p) { return p.name + " " + f(p.value); } };
    }
    return { tooltip: tooltip({ trigger: "item" }), series: [series] };
  }

  function heatmap(spec) {
    var first = spec.series[0];
    var values = spec.points.map(function (p) { return p[2]; }).filter(function (v) { return v !== null; });
    var max = values.length ? Math.max.apply(null, values) : 0;
    var f = formatter(first.kind, spec.durations);
    return {
      tooltip: tooltip({ formatter: function (p) {
        return spec.y_categories[p.value[1]] + " · " + spec.categories[p.value[0]] + "\n" + first.name + " " +
          f(p.value[2]);
      } }),
      grid: { left: 8, right: 8, top: 8, bottom: 56, containLabel: true },
      xAxis: { type: "category", data: spec.categories, splitArea: { show: true } },
      yAxis: { type: "category", data: spec.y_categories, splitArea: { show: true }, inverse: true },
      visualMap: { min: 0, max: max || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0,
                   itemHeight: 120 },
      series: [{ name: first.name, type: "heatmap", data: spec.points, cursor: "pointer",
                 emphasis: { itemStyle: { borderColor: "#1f2937", borderWidth: 1 } } }]
    };
  }

  function optionOf(spec) {
    if (spec.kind === "pie" || spec.kind === "funnel") return sliced(spec);
    if (spec.kind === "heatmap") return heatmap(spec);
    return cartesian(spec);
  }

  function draw(box) {
    var source = document.getElementById(box.getAttribute("data-chart"));
    if (!source || typeof window.echarts === "undefined") return;
    var spec;
    try { spec = JSON.parse(source.textContent); } catch (e) { return; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption(optionOf(spec));
    chart.on("click", function (params) {
      var link = spec.links[params.dataIndex];
      if (link) window.location.assign(link);
    });
    drawn.push(chart);
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { chart.resize(); }).observe(box);
    }
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  window.addEventListener("resize", function () { drawn.forEach(function (c) { c.resize(); }); });

  document.addEventListener("click", function (ev) {
    var target = ev.target instanceof Element ? ev.target.closest("[data-fullscreen]") : null;
    if (!target) return;
    var element = document.getElementById(target.getAttribute("data-fullscreen"));
    if (!element) return;
    if (document.fullscreenElement) document.exitFullscreen();
    else if (element.requestFullscreen) element.requestFullscreen();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
