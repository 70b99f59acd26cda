/* lgc-harness report and site: filters, expanders, product comparison.
   Inlined into every page and allowed by the page's Content-Security-Policy hash.
   Without JavaScript every finding is listed and expandable (native <details>). */
(function () {
  "use strict";

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function checkedValues(form, name) {
    var values = {};
    all('input[name="' + name + '"]', form).forEach(function (input) {
      if (input.checked) { values[input.value] = true; }
    });
    return values;
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  /* ---------------- report: filters by family, severity, status and text ---------------- */
  function setupReport() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    var items = all("div.result");
    var groups = all("section.check");
    var output = document.getElementById("shown-count");
    var empty = document.getElementById("no-match");
    form.hidden = false;

    function apply() {
      var families = checkedValues(form, "family");
      var severities = checkedValues(form, "severity");
      var statuses = checkedValues(form, "status");
      var query = (form.elements.q.value || "").trim().toLowerCase();
      var shown = 0;
      for (var i = 0; i < items.length; i++) {
        var el = items[i];
        var ok = families[el.getAttribute("data-family")] === true &&
          severities[el.getAttribute("data-severity")] === true &&
          statuses[el.getAttribute("data-status")] === true &&
          (!query || el.getAttribute("data-search").indexOf(query) !== -1);
        el.hidden = !ok;
        if (ok) { shown++; }
      }
      groups.forEach(function (group) {
        group.hidden = group.querySelector("div.result:not([hidden])") === null;
      });
      if (output) { output.textContent = "Showing " + shown + " of " + plural(items.length, "result") + "."; }
      if (empty) { empty.hidden = shown !== 0; }
    }

    form.addEventListener("change", apply);
    form.addEventListener("input", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });

    function setOpen(open) {
      all("div.result:not([hidden]) details").forEach(function (d) { d.open = open; });
    }
    var expand = document.getElementById("expand-all");
    var collapse = document.getElementById("collapse-all");
    if (expand) { expand.addEventListener("click", function () { setOpen(true); }); }
    if (collapse) { collapse.addEventListener("click", function () { setOpen(false); }); }

    /* Opening a link to a finding (#r12) shows it even if filtered out or folded. */
    function reveal() {
      var id = decodeURIComponent((window.location.hash || "").slice(1));
      var target = id ? document.getElementById(id) : null;
      if (!target) { return; }
      var node = target;
      while (node && node !== document.body) {
        if (node.hidden) { node.hidden = false; }
        if (node.tagName === "DETAILS") { node.open = true; }
        node = node.parentNode;
      }
      target.scrollIntoView();
    }
    window.addEventListener("hashchange", reveal);

    /* A family's name in the summary table shows only that family's findings. */
    all("a[data-family-link]").forEach(function (link) {
      link.addEventListener("click", function () {
        var family = link.getAttribute("data-family-link");
        all('input[name="family"]', form).forEach(function (input) { input.checked = input.value === family; });
        apply();
      });
    });
    apply();
    reveal();
  }

  /* ---------------- printing: unfold what is shown, fold it back afterwards ---------------- */
  var openedForPrint = [];
  window.addEventListener("beforeprint", function () {
    openedForPrint = all("details:not([open])").filter(function (d) {
      return d.closest("[hidden]") === null;
    });
    openedForPrint.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    openedForPrint.forEach(function (d) { d.open = false; });
    openedForPrint = [];
  });

  /* ---------------- site index: text filter and the choice of products to compare ---------------- */
  function setupIndex() {
    var filter = document.getElementById("product-filter");
    var rows = all("#products tbody tr");
    var output = document.getElementById("products-shown");
    if (filter) {
      filter.closest("form").hidden = false;
      var apply = function () {
        var query = (filter.value || "").trim().toLowerCase();
        var shown = 0;
        rows.forEach(function (row) {
          var ok = !query || row.getAttribute("data-search").indexOf(query) !== -1;
          row.hidden = !ok;
          if (ok) { shown++; }
        });
        if (output) { output.textContent = "Showing " + shown + " of " + plural(rows.length, "product") + "."; }
      };
      filter.addEventListener("input", apply);
      filter.closest("form").addEventListener("submit", function (e) { e.preventDefault(); apply(); });
      apply();
    }
    var button = document.getElementById("compare-button");
    var status = document.getElementById("compare-status");
    var boxes = all('input[name="compare"]');
    if (!button) { return; }
    all(".compare-only").forEach(function (el) { el.hidden = false; });
    function update() {
      var chosen = boxes.filter(function (b) { return b.checked; });
      button.disabled = chosen.length < 2 || chosen.length > 4;
      if (status) {
        status.textContent = chosen.length + " selected" +
          (chosen.length > 4 ? ": choose at most 4." : chosen.length < 2 ? ": choose 2 to 4 products." : ".");
      }
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    button.addEventListener("click", function () {
      var query = boxes.filter(function (b) { return b.checked; }).map(function (b) {
        return "p=" + encodeURIComponent(b.value);
      }).join("&");
      window.location.href = button.getAttribute("data-target") + "?" + query;
    });
    update();
  }

  /* ---------------- comparison page: 2 to 4 products side by side ---------------- */
  function fmtScore(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1); }
  function fmtPct(v) { return v === null || v === undefined ? "–" : Math.round(Number(v) * 100) + " %"; }

  function cell(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    return el;
  }

  function setupCompare() {
    var holder = document.getElementById("compare-table");
    var dataNode = document.getElementById("site-data");
    var form = document.getElementById("compare-form");
    if (!holder || !dataNode || !form) { return; }
    var data = JSON.parse(dataNode.textContent);
    var bySlug = {};
    data.products.forEach(function (p) { bySlug[p.slug] = p; });
    var selects = all("select", form);
    form.hidden = false;

    var params = [];
    var search = window.location.search.replace(/^\?/, "");
    if (search) {
      search.split("&").forEach(function (pair) {
        var kv = pair.split("=");
        if (kv[0] === "p" && kv[1]) { params.push(decodeURIComponent(kv[1])); }
      });
    }
    selects.forEach(function (select, i) {
      data.products.forEach(function (p) {
        var option = document.createElement("option");
        option.value = p.slug;
        option.textContent = p.product + " — " + p.vendor;
        select.appendChild(option);
      });
      if (params[i] && bySlug[params[i]]) { select.value = params[i]; }
    });

    function render() {
      var chosen = [];
      selects.forEach(function (s) { if (s.value && bySlug[s.value] && chosen.indexOf(s.value) === -1) { chosen.push(s.value); } });
      var message = document.getElementById("compare-message");
      while (holder.firstChild) { holder.removeChild(holder.firstChild); }
      if (chosen.length < 2) {
        message.textContent = "Choose 2 to 4 different products.";
        return;
      }
      message.textContent = "Comparing " + chosen.length + " products.";
      try {
        window.history.replaceState(null, "", "?" + chosen.map(function (s) { return "p=" + encodeURIComponent(s); }).join("&"));
      } catch (e) { /* file:// may refuse; the table is what matters */ }
      var products = chosen.map(function (s) { return bySlug[s]; });
      var table = document.createElement("table");
      table.id = "comparison";
      table.appendChild(cell("caption", "Objective scores (out of 10) and peer ratings, side by side"));
      var thead = document.createElement("thead");
      var head = document.createElement("tr");
      head.appendChild(cell("th", "Measure"));
      products.forEach(function (p) {
        var th = document.createElement("th");
        th.setAttribute("scope", "col");
        var a = document.createElement("a");
        a.href = p.url;
        a.textContent = p.product;
        th.appendChild(a);
        th.appendChild(cell("div", p.vendor + (p.version ? " · " + p.version : ""), "muted"));
        head.appendChild(th);
      });
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = document.createElement("tbody");
      function row(label, values, cls) {
        var tr = document.createElement("tr");
        var th = cell("th", label);
        th.setAttribute("scope", "row");
        tr.appendChild(th);
        values.forEach(function (v) { tr.appendChild(cell("td", v, cls || "num")); });
        tbody.appendChild(tr);
      }
      row("Objective score (overall)", products.map(function (p) { return fmtScore(p.overall.score); }));
      row("Coverage", products.map(function (p) { return fmtPct(p.overall.coverage); }));
      data.families.forEach(function (f) {
        row("Objective: " + f, products.map(function (p) {
          var fam = p.families[f];
          return fam ? fmtScore(fam.score) + " (" + fmtPct(fam.coverage) + ")" : "not audited";
        }));
      });
      row("Regressions since the previous version", products.map(function (p) { return String(p.regressions); }));
      data.facets.forEach(function (f) {
        row("Peers: " + f.label, products.map(function (p) {
          var facet = p.peers ? p.peers[f.key] : null;
          if (!facet) { return "no ratings"; }
          if (!facet.enough) { return "not enough ratings (" + facet.count + ")"; }
          return fmtScore(facet.mean) + " (" + facet.count + " ratings)";
        }));
      });
      table.appendChild(tbody);
      holder.appendChild(table);
    }
    form.addEventListener("change", render);
    form.addEventListener("submit", function (e) { e.preventDefault(); render(); });
    render();
  }

  function start() {
    setupReport();
    setupIndex();
    setupCompare();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
