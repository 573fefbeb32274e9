/* Residua review page: map, ranked table and per-site evidence, from the inline JSON.
 * Opened as a file it is read-only; served by `residua review` (window.RESIDUA_SERVER set)
 * it records decisions through the server's POST endpoint. No network access otherwise. */
(function () {
  "use strict";
  function rankLabel(p) { return p.rank == null ? "(" + (p.review_status || "unranked") + ")" : "#" + p.rank; }

  var DATA = JSON.parse(document.getElementById("residua-data").textContent);
  var SERVER = window.RESIDUA_SERVER || null;
  var ELEMENTS = ["ga", "te", "pt", "pd", "rh"];
  var METALS = ["ga", "te", "pt", "pd", "rh", "pgm"];
  var LABEL = { ga: "Ga", te: "Te", pt: "Pt", pd: "Pd", rh: "Rh", pgm: "PGM" };
  // Confidence classes and review decisions come from geodata/vocabulary.py, as the QGIS styles do.
  var VOCAB = DATA.vocabulary;
  var DECISIONS = VOCAB.decisions.map(function (d) { return [d.code, d.label]; });
  var DECISION_COLOUR = {};
  VOCAB.decisions.forEach(function (d) { DECISION_COLOUR[d.code] = d.colour; });
  var CONF = VOCAB.confidence;
  function confOf(c) { return CONF[c] || CONF[VOCAB.fallback_class]; }
  var RAMP = ["#7f0000", "#b30000", "#d7301f", "#ef6548", "#fc8d59", "#fdbb84", "#fdd49e", "#fee8c8"];
  var GRADE_RAMP = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];
  var METHODS = { dem_difference: "DEM difference (surface \u2212 base) \u00d7 density", thickness_prior: "footprint area \u00d7 thickness prior \u00d7 density",
    reported_tonnes: "reported tonnes", reported_volume: "reported volume \u00d7 density" };

  var sites = DATA.sites.features.map(function (f) { return f.properties; });
  var byId = {};
  sites.forEach(function (p, i) { byId[p.site_id] = { props: p, feature: DATA.sites.features[i] }; });
  var maxRank = Math.max.apply(null, sites.map(function (p) { return +p.rank || 0; }).concat([1]));
  var state = { selected: null, sortKey: "rank", sortDir: 1, element: "ga", reviews: DATA.reviews,
                filters: { text: "", conf: {}, type: "", review: "" } };
  Object.keys(CONF).forEach(function (c) { state.filters.conf[c] = true; });

  /* ---------- small helpers ---------- */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k === "on") Object.keys(v).forEach(function (e) { el.addEventListener(e, v[e]); });
      else el.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      (Array.isArray(c) ? c : [c]).forEach(function (x) {
        if (x !== null && x !== undefined && x !== false) el.appendChild(typeof x === "string" ? document.createTextNode(x) : x);
      });
    }
    return el;
  }
  function missing(v) { return v === null || v === undefined || v === "" || (typeof v === "number" && !isFinite(v)); }
  function num(v) { return missing(v) ? null : +v; }
  function fmt(v) {
    v = num(v);
    if (v === null || isNaN(v)) return "\u2014";
    if (v === 0) return "0";
    if (v > 0 && v < 0.001) return "<0.001";
    return Number(v.toPrecision(3)).toLocaleString("en", { maximumFractionDigits: 6 });
  }
  function fmtUsdM(v) { v = num(v); return v === null ? "\u2014" : fmt(v / 1e6); }
  function rankColor(rank) {
    var t = maxRank > 1 ? (rank - 1) / (maxRank - 1) : 0;
    return RAMP[Math.min(RAMP.length - 1, Math.max(0, Math.round(t * (RAMP.length - 1))))];
  }
  function latest(siteId) { return (state.reviews.latest || {})[siteId] || null; }
  function statusChip(siteId) {
    var r = latest(siteId);
    if (!r) return h("span", { "class": "note", text: VOCAB.unreviewed });
    return h("span", { "class": "status " + r.decision, style: "background:" + (DECISION_COLOUR[r.decision] || "none"), text: r.decision });
  }
  function confChip(c) {
    var s = confOf(c);
    return h("span", { "class": "conf " + c, style: "border-color:" + s.colour + ";border-style:" + s.border, title: s.description,
      text: c || "?" });
  }

  /* ---------- page frame ---------- */
  var app = document.getElementById("app");
  var run = DATA.run || {};
  var header = h("header", {},
    h("h1", { text: DATA.title }),
    h("p", { "class": "meta", text: [sites.length + " sites ranked", DATA.data_origin, run.run_time_utc && "run " + run.run_time_utc,
      run.run_id && "id " + run.run_id, run.code_version].filter(Boolean).join(" \u00b7 ") }),
    h("p", { "class": "disclaimer", id: "disclaimer", text: DATA.disclaimer }));
  if (DATA.synthetic) {
    app.appendChild(h("div", { "class": "banner", id: "synthetic-banner", role: "alert",
      text: "SYNTHETIC DATA \u2014 these sites, samples and figures are generated for demonstration; they describe no real deposit." }));
  }
  app.appendChild(header);
  var changesCard = h("section", { "class": "card changes-card", id: "changes" });
  app.appendChild(changesCard);
  var evidence = h("div", { id: "evidence", "aria-live": "polite" },
    h("p", { "class": "placeholder", text: "Select a site on the map or in the table to see its evidence." }));
  app.appendChild(h("div", { "class": "layout" }, h("section", { "class": "card map-card" }, h("div", { id: "map" })),
    h("section", { "class": "card evidence-card" }, evidence)));
  var tableCard = h("section", { "class": "card table-card" });
  app.appendChild(tableCard);
  var hubsCard = h("section", { "class": "card hubs-card", id: "hubs" });
  app.appendChild(hubsCard);
  var planCard = h("section", { "class": "card plan-card", id: "sampling-plan" });
  app.appendChild(planCard);
  app.appendChild(h("footer", { "class": "disclaimer", text: DATA.disclaimer }));

  /* ---------- map ---------- */
  var map = L.map("map", { zoomSnap: 0.25, worldCopyJump: false, minZoom: 2 });
  map.attributionControl.setPrefix("Leaflet (BSD-2)");
  map.attributionControl.addAttribution("Country outlines: Natural Earth (public domain); no basemap (offline)");
  L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
  L.geoJSON(DATA.countries, { interactive: false,
    style: { color: "#a59f8f", weight: 1, fillColor: "#f3f0e6", fillOpacity: 1 } }).addTo(map);
  var graticule = L.layerGroup().addTo(map);
  var siteGroup = L.featureGroup().addTo(map);
  var markerGroup = L.featureGroup().addTo(map);
  var sampleGroup = L.featureGroup().addTo(map);
  var layers = {};
  // The view is set before any site is added, so every site's SVG element exists (and is tagged) at once.
  var allBounds = L.geoJSON(DATA.sites).getBounds();
  map.fitBounds(allBounds.isValid() ? allBounds.pad(0.08) : L.latLngBounds([[-60, -170], [75, 170]]));

  /* ---------- hub plan on the map (drawn before the sites, so below them) ---------- */
  var HUBS = DATA.hubs || { status: "absent", message: "No hub plan in this inventory.", opened: [], closed: [], assignments: [] };
  var HUB_COLOUR = "#6a3d9a", LINE_COLOUR = "#7d6e9c";
  var HUB_SVG = '<svg width="18" height="16" viewBox="0 0 18 16"><path d="M9 1.5 L16.5 14.5 L1.5 14.5 Z" fill="' + HUB_COLOUR +
    '" stroke="#fff" stroke-width="1.5" stroke-linejoin="round"/></svg>';
  var hubLineGroup = L.featureGroup(), hubClosedGroup = L.featureGroup(), hubGroup = L.featureGroup();
  var hubById = {}, hubLineOf = {}, hubLines = {}, hubMarkers = {};
  function lonLat(c) { return [c[1], c[0]]; }
  if (HUBS.status === "ok") {
    [hubLineGroup, hubClosedGroup, hubGroup].forEach(function (g) { g.addTo(map); });
    HUBS.opened.forEach(function (hb) { hubById[hb.hub_id] = hb; });
    HUBS.assignments.forEach(function (a) {
      hubLineOf[a.site_id] = a;
      if (!a.coordinates || a.coordinates.length < 2) return;
      var line = L.polyline(a.coordinates.map(lonLat), { color: LINE_COLOUR, weight: 1.2, opacity: 0.8, className: "hub-assignment" });
      // Tooltips get DOM nodes, never HTML strings: Leaflet would parse a string as markup.
      line.bindTooltip(h("span", { text: a.site_id + " \u2192 hub " + a.hub_id + ": " + fmt(a.road_km) + " road km, net " +
        fmtUsdM(a.net_value_usd_mean) + " M USD" }), { sticky: true });
      line.on("click", function () { selectSite(a.site_id, { zoom: false, scroll: true }); });
      hubLineGroup.addLayer(line);
      hubLines[a.site_id] = line;
    });
    HUBS.closed.forEach(function (hb) {
      if (missing(hb.lat) || missing(hb.lon)) return;
      var m = L.circleMarker([hb.lat, hb.lon], { radius: 3, weight: 1, color: "#8a8f96", opacity: 0.55, fillColor: "#c4c7cc", fillOpacity: 0.45,
        className: "hub-closed" });
      m.bindTooltip(h("span", { text: "Candidate hub " + hb.hub_id + " (not opened)" }));
      hubClosedGroup.addLayer(m);
    });
    HUBS.opened.forEach(function (hb) {
      if (missing(hb.lat) || missing(hb.lon)) return;
      var m = L.marker([hb.lat, hb.lon], { icon: L.divIcon({ className: "hub-icon", html: HUB_SVG, iconSize: [18, 16], iconAnchor: [9, 10] }),
        keyboard: false, zIndexOffset: 500 });
      var tip = h("div", {}, h("b", { text: "Hub " + hb.hub_id }), h("div", { text: hb.name || "" }),
        h("div", { text: (hb.n_assigned == null ? "?" : hb.n_assigned) + " sites; feed P50 " + fmt(hb.feed_t_p50) + " t; net value P50 " +
          fmtUsdM(hb.net_value_usd_p50) + " M USD" }));
      m.bindTooltip(tip);
      m.on("click", function () { zoomToHub(hb.hub_id); });
      hubGroup.addLayer(m);
      hubMarkers[hb.hub_id] = m;
    });
    tagHubLayers();
  }
  function tagHubLayers() {
    // Leaflet makes new elements each time a layer is added to the map: tag (and mark) them again.
    Object.keys(hubLines).forEach(function (id) {
      var el = hubLines[id].getElement();
      if (!el) return;
      el.setAttribute("data-site-id", id);
      el.setAttribute("data-hub-id", hubLineOf[id].hub_id);
      el.classList.toggle("selected", state.selected === id);
    });
    Object.keys(hubMarkers).forEach(function (id) { var el = hubMarkers[id].getElement(); if (el) el.setAttribute("data-hub-id", id); });
  }
  function zoomToHub(hubId) {
    var hb = hubById[hubId];
    if (!hb || missing(hb.lat)) return;
    var b = L.latLngBounds([[hb.lat, hb.lon], [hb.lat, hb.lon]]);
    Object.keys(hubLines).forEach(function (id) { if (hubLineOf[id].hub_id === hubId) b.extend(hubLines[id].getBounds()); });
    map.fitBounds(b.pad(0.15), { maxZoom: 12, animate: false });
  }

  /* ---------- sampling plan on the map: the planned holes (markers, so above the sites) ---------- */
  var PLAN = DATA.sampling_plan || { status: "absent", message: "No sampling plan in this inventory.", campaigns: [], holes: [] };
  // An orange star outlined in black, as the QGIS style draws a planned hole (geodata/styles.py, PLANNED_HOLE_ORANGE).
  var PLAN_COLOUR = "#ff7f00";
  var PLAN_SVG = '<svg width="16" height="16" viewBox="0 0 16 16"><path d="M8 .8 L9.7 5.65 L14.85 5.78 L10.76 8.9 L12.23 13.82 ' +
    'L8 10.9 L3.77 13.82 L5.24 8.9 L1.15 5.78 L6.3 5.65 Z" fill="' + PLAN_COLOUR + '" stroke="#000" stroke-width=".7" ' +
    'stroke-linejoin="round"/></svg>';
  var planGroup = L.featureGroup(), campaignOf = {}, planHolesOf = {};
  if (PLAN.status === "ok") {
    planGroup.addTo(map);
    PLAN.campaigns.forEach(function (c) { campaignOf[c.site_id] = c; });
    PLAN.holes.forEach(function (ho) {
      if (missing(ho.lat) || missing(ho.lon)) return;
      var m = L.marker([ho.lat, ho.lon], { icon: L.divIcon({ className: "plan-hole-icon", html: PLAN_SVG, iconSize: [16, 16], iconAnchor: [8, 8] }),
        keyboard: false, zIndexOffset: 600 });  // above the hub triangles: a hub may stand at a planned site
      m.bindPopup(planHolePopup(ho));
      // Leaflet makes a new element each time the marker is added to the map: tag each one.
      m.on("add", function () { m.getElement().setAttribute("data-hole-id", ho.hole_id); m.getElement().setAttribute("data-site-id", ho.site_id); });
      planGroup.addLayer(m);
      (planHolesOf[ho.site_id] = planHolesOf[ho.site_id] || []).push(m);
    });
  }
  function planHolePopup(ho) {
    // A DOM node, never an HTML string: Leaflet would parse a string as markup.
    var c = campaignOf[ho.site_id] || {}, site = byId[ho.site_id];
    return h("div", {}, h("b", { text: "Planned hole " + ho.hole_id }),
      h("div", { text: "Site " + ho.site_id + (site && site.props.name ? " \u2014 " + site.props.name : "") }),
      h("div", { text: "Priority " + ho.priority + (missing(c.holes) ? "" : " (campaign of " + c.holes + " holes)") }),
      h("div", { text: "Planned depth " + fmt(ho.planned_depth_m) + " m" + (c.depth_source ? " \u2014 " + c.depth_source : "") }),
      missing(ho.nearest_hole_m) ? null : h("div", { text: "Nearest other hole " + fmt(ho.nearest_hole_m) + " m" }),
      h("div", { text: "Lat " + ho.lat.toFixed(6) + ", lon " + ho.lon.toFixed(6) + " (WGS 84)" }));
  }

  function siteStyle(p) {
    var c = confOf(p.confidence);
    return { color: c.colour, weight: c.weight, dashArray: c.dash, opacity: 1, fillColor: rankColor(+p.rank || maxRank),
             fillOpacity: 0.6 };
  }
  DATA.sites.features.forEach(function (f) {
    var p = f.properties;
    var style = siteStyle(p);
    var shape = L.geoJSON(f, { style: function () { return Object.assign({ className: "site-footprint" }, style); },
      pointToLayer: function (_, ll) { return L.circleMarker(ll, Object.assign({ radius: 7, className: "site-footprint" }, style)); }
    }).getLayers()[0];
    if (!shape) return;
    var isPoint = f.geometry && f.geometry.type === "Point";
    var marker = isPoint ? null : L.circleMarker(shape.getBounds().getCenter(),
      Object.assign({}, style, { radius: 6.5, className: "site-marker" }));
    var tip = rankLabel(p) + " " + p.site_id + " \u2014 " + (p.name || "") + " (" + (p.confidence || "?") + ")";
    [shape, marker].forEach(function (layer) {
      if (!layer) return;
      layer.bindTooltip(h("span", { text: tip }), { sticky: true });
      layer.on("click", function () { selectSite(p.site_id, { zoom: false, scroll: true }); });
    });
    siteGroup.addLayer(shape);
    if (marker) markerGroup.addLayer(marker);
    layers[p.site_id] = { shape: shape, marker: marker };
    [shape, marker].forEach(function (layer) { if (layer && layer.getElement()) layer.getElement().setAttribute("data-site-id", p.site_id); });
  });


  function updateMarkers() {
    // A footprint smaller than ~14 px on screen is also drawn as a dot so it stays visible and clickable.
    Object.keys(layers).forEach(function (id) {
      var l = layers[id];
      if (!l.marker || !l.marker.getElement()) return;
      var b = l.shape.getBounds();
      var a = map.project(b.getNorthWest()), c = map.project(b.getSouthEast());
      var small = Math.max(Math.abs(c.x - a.x), Math.abs(c.y - a.y)) < 14;
      l.marker.getElement().classList.toggle("marker-hidden", !small);
    });
  }

  function niceStep(span) {
    var steps = [30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
    for (var i = 0; i < steps.length; i++) if (span / steps[i] >= 3) return steps[i];
    return steps[steps.length - 1];
  }
  function degLabel(v, pos, neg) {
    var a = Math.abs(v), d = a >= 1 || a === 0 ? (+a.toFixed(3)).toString() : (+a.toFixed(3)).toString();
    return d + "\u00b0" + (v > 0 ? pos : v < 0 ? neg : "");
  }
  function drawGraticule() {
    graticule.clearLayers();
    var b = map.getBounds(), s = Math.max(b.getSouth(), -85), n = Math.min(b.getNorth(), 85);
    var w = b.getWest(), e = b.getEast();
    var step = niceStep(Math.min(e - w, n - s));
    var line = { color: "#7f8f9c", weight: 0.6, opacity: 0.7, interactive: false, dashArray: "3 3" };
    var x, y;
    for (x = Math.ceil(w / step) * step; x <= e; x += step) {
      graticule.addLayer(L.polyline([[s, x], [n, x]], line));
      var px = map.latLngToContainerPoint([n, x]).x;
      if (px < 52 || px > map.getSize().x - 60) continue;
      graticule.addLayer(L.marker(map.containerPointToLatLng([px + 3, 4]),
        { interactive: false, icon: L.divIcon({ className: "graticule-label", html: degLabel(+x.toFixed(6), "E", "W"), iconSize: null }) }));
    }
    for (y = Math.ceil(s / step) * step; y <= n; y += step) {
      graticule.addLayer(L.polyline([[y, w], [y, e]], line));
      var py = map.latLngToContainerPoint([y, w]).y;
      if (py < 80 || py > map.getSize().y - 40) continue;
      graticule.addLayer(L.marker(map.containerPointToLatLng([4, py - 13]),
        { interactive: false, icon: L.divIcon({ className: "graticule-label", html: degLabel(+y.toFixed(6), "N", "S"), iconSize: null }) }));
    }
  }
  map.on("moveend zoomend", function () { drawGraticule(); updateMarkers(); });
  drawGraticule();
  updateMarkers();

  function legend() {
    var stops = RAMP.map(function (c, i) { return c + " " + Math.round(100 * i / (RAMP.length - 1)) + "%"; }).join(",");
    var gstops = GRADE_RAMP.map(function (c, i) { return c + " " + Math.round(100 * i / (GRADE_RAMP.length - 1)) + "%"; }).join(",");
    var div = h("div", { "class": "legend", id: "legend" },
      h("span", { "class": "legend-title", text: "Fill: rank" }), h("span", { text: "1" }),
      h("span", { "class": "ramp", style: "background:linear-gradient(to right," + stops + ")" }), h("span", { text: String(maxRank) }),
      h("span", { "class": "legend-title", text: "Outline: confidence" }));
    Object.keys(CONF).forEach(function (c) {
      var s = CONF[c];
      var item = h("span", { title: s.label });
      item.innerHTML = '<svg width="24" height="14"><rect x="2" y="2" width="20" height="10" fill="#fdbb84" stroke="' + s.colour +
        '" stroke-width="' + s.weight + '"' + (s.dash ? ' stroke-dasharray="' + s.dash + '"' : "") + "/></svg>";
      item.appendChild(document.createTextNode(c + " " + s.words));
      div.appendChild(item);
    });
    div.appendChild(h("span", { "class": "legend-title", text: "Holes (selected site): grade" }));
    div.appendChild(h("span", { text: "low" }));
    div.appendChild(h("span", { "class": "ramp", style: "background:linear-gradient(to right," + gstops + ")" }));
    div.appendChild(h("span", { text: "high, hollow = below detection" }));
    if (HUBS.status === "ok") {
      div.appendChild(h("span", { "class": "legend-title", text: "Hub plan" }));
      var opened = h("span", {}); opened.innerHTML = HUB_SVG; opened.appendChild(document.createTextNode(" hub opened"));
      var closed = h("span", {}); closed.innerHTML = '<svg width="10" height="10"><circle cx="5" cy="5" r="3" fill="#c4c7cc" stroke="#8a8f96"/></svg>';
      closed.appendChild(document.createTextNode(" candidate, not opened"));
      var line = h("span", {}); line.innerHTML = '<svg width="24" height="10"><line x1="1" y1="5" x2="23" y2="5" stroke="' + LINE_COLOUR +
        '" stroke-width="1.5"/></svg>';
      line.appendChild(document.createTextNode(" site \u2192 hub"));
      [opened, closed, line].forEach(function (x) { div.appendChild(x); });
    }
    if (PLAN.status === "ok") {
      div.appendChild(h("span", { "class": "legend-title", text: "Sampling plan" }));
      var star = h("span", {}); star.innerHTML = PLAN_SVG; star.appendChild(document.createTextNode(" planned hole"));
      div.appendChild(star);
    }
    return div;
  }
  document.querySelector(".map-card").appendChild(legend());

  /* ---------- samples of the selected site ---------- */
  function holesOf(siteId) {
    var holes = {};
    (DATA.samples.features || []).forEach(function (f) {
      var p = f.properties;
      if (p.site_id !== siteId || !f.geometry) return;
      var c = f.geometry.coordinates, key = p.hole_id || c.join(",");
      (holes[key] = holes[key] || { key: key, latlng: [c[1], c[0]], rows: [] }).rows.push(p);
    });
    return Object.keys(holes).map(function (k) { return holes[k]; });
  }
  function holeGrade(hole, e) {
    var sum = 0, len = 0, bdlOnly = true;
    hole.rows.forEach(function (r) {
      var g = num(r[e + "_gt"]);
      if (g === null) return;
      var l = Math.max(0.01, (num(r.depth_to_m) || 0) - (num(r.depth_from_m) || 0)) || 1;
      sum += g * l; len += l;
      if (!r[e + "_bdl"]) bdlOnly = false;
    });
    return len ? { grade: sum / len, bdl: bdlOnly } : null;
  }
  function drawSamples(siteId) {
    sampleGroup.clearLayers();
    if (!siteId) return;
    var e = state.element, holes = holesOf(siteId);
    var grades = holes.map(function (ho) { var g = holeGrade(ho, e); return g ? g.grade : null; })
      .filter(function (g) { return g !== null && g > 0; });
    var lo = Math.log(Math.min.apply(null, grades.concat([1]))), hi = Math.log(Math.max.apply(null, grades.concat([1])));
    holes.forEach(function (ho) {
      var g = holeGrade(ho, e);
      var t = g && g.grade > 0 && hi > lo ? (Math.log(g.grade) - lo) / (hi - lo) : 0.5;
      var color = g ? GRADE_RAMP[Math.round(t * (GRADE_RAMP.length - 1))] : "#9aa0a6";
      var m = L.circleMarker(ho.latlng, { radius: 5, weight: 1.5, color: g && !g.bdl ? "#111" : color, fillColor: color,
        fillOpacity: g && !g.bdl ? 1 : 0, className: "sample-point" });
      var lines = ho.rows.map(function (r) {
        return r.sample_id + " " + fmt(r.depth_from_m) + "\u2013" + fmt(r.depth_to_m) + " m: " + ELEMENTS.map(function (x) {
          return missing(r[x + "_gt"]) ? null : LABEL[x] + " " + (r[x + "_bdl"] ? "<" : "") + fmt(r[x + "_gt"]);
        }).filter(Boolean).join(", ");
      });
      var div = h("div", {}, h("b", { text: "Hole " + ho.key + (g ? " \u2014 " + LABEL[e] + " " + fmt(g.grade) + " g/t" : "") }));
      lines.slice(0, 12).forEach(function (l) { div.appendChild(h("div", { text: l })); });
      if (lines.length > 12) div.appendChild(h("div", { text: "\u2026 " + (lines.length - 12) + " more intervals" }));
      m.bindTooltip(div);
      sampleGroup.addLayer(m);
    });
  }

  /* ---------- table ---------- */
  var COLUMNS = [
    { key: "rank", label: "Rank", num: true, fmt: function (v) { return v; } },
    { key: "site_id", label: "Site" }, { key: "name", label: "Name" }, { key: "residue_type", label: "Residue type" },
    { key: "state", label: "State" }, { key: "confidence", label: "Conf." },
    { key: "tonnes_p50", label: "Tonnes P50", num: true },
    { key: "ga_recoverable_t_p50", label: "Ga t P50", num: true }, { key: "te_recoverable_t_p50", label: "Te t P50", num: true },
    { key: "pgm_recoverable_t_p50", label: "PGM t P50", num: true },
    { key: "value_usd_p50", label: "Value P50 (M USD)", num: true, fmt: fmtUsdM },
    { key: "n_holes", label: "Holes", num: true, fmt: function (v) { return missing(v) ? "\u2014" : String(v); } },
    { key: "_review", label: "Review" }
  ].filter(function (c) { return c.key === "_review" || sites.some(function (p) { return c.key in p; }); });

  function cellValue(p, key) { return key === "_review" ? ((latest(p.site_id) || {}).decision || "") : p[key]; }
  var types = Array.from(new Set(sites.map(function (p) { return p.residue_type; }).filter(Boolean))).sort();
  var textInput = h("input", { type: "search", id: "filter-text", placeholder: "Filter: site, name, type, state, operator\u2026",
    on: { input: function (ev) { state.filters.text = ev.target.value.trim().toLowerCase(); refreshTable(); } } });
  var typeSelect = h("select", { id: "filter-type", on: { change: function (ev) { state.filters.type = ev.target.value; refreshTable(); } } },
    h("option", { value: "", text: "all residue types" }), types.map(function (t) { return h("option", { value: t, text: t }); }));
  var reviewSelect = h("select", { id: "filter-review", on: { change: function (ev) { state.filters.review = ev.target.value; refreshTable(); } } },
    [["", "any review status"], [VOCAB.unreviewed, VOCAB.unreviewed]].concat(DECISIONS).map(function (d) { return h("option", { value: d[0], text: d[1] }); }));
  var confBoxes = Object.keys(CONF).map(function (c) {
    return h("label", { title: CONF[c].label }, h("input", { type: "checkbox", checked: true, "data-conf": c,
      on: { change: function (ev) { state.filters.conf[c] = ev.target.checked; refreshTable(); } } }), " ", confChip(c));
  });
  var countLabel = h("span", { "class": "count", id: "row-count" });
  tableCard.appendChild(h("div", { "class": "filters" }, textInput, typeSelect, h("span", {}, confBoxes), reviewSelect, countLabel));
  var thead = h("tr", {});
  COLUMNS.forEach(function (c) {
    thead.appendChild(h("th", { "class": c.num ? "num" : null, "data-key": c.key, scope: "col", tabindex: "0", text: c.label,
      on: { click: function () { sortBy(c.key); }, keydown: function (ev) { if (ev.key === "Enter") sortBy(c.key); } } }));
  });
  var tbody = h("tbody", {});
  tableCard.appendChild(h("div", { "class": "table-scroll" }, h("table", { id: "site-table" }, h("thead", {}, thead), tbody)));
  var rows = {};
  sites.forEach(function (p) {
    var tr = h("tr", { "data-site-id": p.site_id, tabindex: "0",
      on: { click: function () { selectSite(p.site_id, { zoom: true, scroll: false }); },
            keydown: function (ev) { if (ev.key === "Enter") selectSite(p.site_id, { zoom: true, scroll: false }); } } });
    rows[p.site_id] = tr;
  });

  function renderRow(p) {
    var tr = rows[p.site_id];
    tr.textContent = "";
    COLUMNS.forEach(function (c) {
      var v = p[c.key], td = h("td", { "class": c.num ? "num" : c.key });
      if (c.key === "_review") td.appendChild(statusChip(p.site_id));
      else if (c.key === "confidence") td.appendChild(confChip(v));
      else if (c.key === "rank") { td.appendChild(h("span", { "class": "swatch", style: "background:" + rankColor(+v) })); td.appendChild(document.createTextNode(String(v))); }
      else if (c.key === "residue_type") td.textContent = missing(v) ? "" : String(v).replace(/_/g, " ");
      else td.textContent = c.num ? (c.fmt || fmt)(v) : (missing(v) ? "" : String(v));
      tr.appendChild(td);
    });
  }
  function matches(p) {
    var f = state.filters, d = (latest(p.site_id) || {}).decision || VOCAB.unreviewed;
    if (!f.conf[p.confidence] && p.confidence in CONF) return false;
    if (f.type && p.residue_type !== f.type) return false;
    if (f.review && d !== f.review) return false;
    if (!f.text) return true;
    return ["site_id", "name", "residue_type", "state", "operator", "source_process"].some(function (k) {
      var text = missing(p[k]) ? "" : String(p[k]).toLowerCase();  // codes match as written and as shown (_ as space)
      return text.indexOf(f.text) >= 0 || text.replace(/_/g, " ").indexOf(f.text) >= 0;
    });
  }
  function sortBy(key) {
    if (state.sortKey === key) state.sortDir = -state.sortDir;
    else { state.sortKey = key; state.sortDir = (key === "rank" || !(COLUMNS.find(function (c) { return c.key === key; }) || {}).num) ? 1 : -1; }
    refreshTable();
  }
  function compare(a, b) {
    var col = COLUMNS.find(function (c) { return c.key === state.sortKey; }) || COLUMNS[0];
    var x = cellValue(a, col.key), y = cellValue(b, col.key);
    if (missing(x) && missing(y)) return (+a.rank) - (+b.rank);
    if (missing(x)) return 1;
    if (missing(y)) return -1;
    var r = col.num ? (+x) - (+y) : String(x).localeCompare(String(y));
    return r === 0 ? (+a.rank) - (+b.rank) : r * state.sortDir;
  }
  function refreshTable() {
    var shown = 0;
    Array.from(thead.children).forEach(function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-key") === state.sortKey ? (state.sortDir > 0 ? "ascending" : "descending") : "none");
    });
    tbody.textContent = "";
    sites.slice().sort(compare).forEach(function (p) {
      var ok = matches(p), l = layers[p.site_id];
      renderRow(p);
      if (ok) { tbody.appendChild(rows[p.site_id]); shown++; }
      if (l) [l.shape, l.marker, hubLines[p.site_id]].concat(planHolesOf[p.site_id] || []).forEach(function (layer) {
        if (layer && layer.getElement()) layer.getElement().classList.toggle("filtered-out", !ok);
      });
    });
    countLabel.textContent = "Showing " + shown + " of " + sites.length + " sites";
  }

  /* ---------- changes since the last release ---------- */
  var changeRows = {};
  function numText(v) { return missing(v) ? "\u2014" : isFinite(+v) ? fmt(+v) : v; }
  function changeText(c) {
    var what = c.change.replace(/^(ga|te|pt|pd|rh|pgm) /, function (m, e) { return LABEL[e] + " "; });
    var arrow = (c.old || c.new) && ["added", "removed", "inputs"].indexOf(c.change) < 0 ?
      " " + numText(c.old) + " \u2192 " + numText(c.new) : "";
    return what + arrow + (c.detail ? " (" + c.detail + ")" : "");
  }
  function list(items) { return h("ul", {}, items.map(function (x) { return h("li", { text: x }); })); }
  function selectChanged(siteId) {
    selectSite(siteId, { zoom: true, scroll: false });
    document.querySelector(".evidence-card").scrollIntoView({ block: "nearest" });
  }
  function changeRow(s) {
    var known = !!byId[s.site_id], select = function () { selectChanged(s.site_id); };
    var tr = h("tr", { "data-site-id": s.site_id, "class": known ? "selectable" : null, tabindex: known ? "0" : null,
      title: known ? "Show this site's evidence" : "No longer in the inventory",
      on: known ? { click: select, keydown: function (ev) { if (ev.key === "Enter") select(); } } : {} },
      h("th", { scope: "row", text: s.site_id }), h("td", { text: known ? rankLabel(byId[s.site_id].props) : "\u2014" }),
      h("td", {}, list(s.changes.map(changeText))), h("td", {}, list(s.causes)));
    if (known) changeRows[s.site_id] = tr;
    return tr;
  }
  function renderChanges() {
    var ch = DATA.changes || { status: "absent", message: "", sites: [] };
    var title = ch.since_release ? "Changes since release " + ch.since_release : "Changes since the last release";
    changesCard.appendChild(h("h2", { text: title }));
    if (ch.status !== "listed") { changesCard.appendChild(h("p", { "class": "note", id: "changes-note", text: ch.message })); return; }
    var sm = ch.summary || {}, through = sm.sites_through_others || 0;
    changesCard.appendChild(h("p", { "class": "note", text: ch.sites.length + " site" + (ch.sites.length === 1 ? "" : "s") + " changed" +
      (through ? " (" + through + " only through other sites or release-wide changes)" : "") +
      ", as the inventory's changes table states them. Select a site to see its evidence." }));
    changesCard.appendChild(h("div", { "class": "changes-scroll" }, h("table", { id: "changes-table" },
      h("thead", {}, h("tr", {}, ["Site", "Rank now", "What changed", "Causes"].map(function (x) { return h("th", { scope: "col", text: x }); }))),
      h("tbody", {}, ch.sites.map(changeRow)))));
  }
  renderChanges();

  /* ---------- processing hubs (the hub plan) ---------- */
  function usdM(hb, prefix) {
    var v = {}; ["p10", "p50", "p90"].forEach(function (k) { v["m_" + k] = num(hb[prefix + "_" + k]) === null ? null : hb[prefix + "_" + k] / 1e6; });
    return spread(v, "m");
  }
  function renderHubs() {
    hubsCard.appendChild(h("h2", { text: "Processing hubs" }));
    if (HUBS.status !== "ok") { hubsCard.appendChild(h("p", { "class": "note", id: "hubs-note", text: HUBS.message })); return; }
    var fed = HUBS.assignments.length, opened = HUBS.opened;
    hubsCard.appendChild(h("p", { "class": "note", id: "hubs-summary", text: opened.length + " of " + HUBS.n_candidates +
      " candidate hubs opened by the hub plan (" + (HUBS.methods.join(", ") || "method not recorded") + "); " + fed + " site" + (fed === 1 ? "" : "s") +
      " feed a hub" + (missing(HUBS.net_value_usd_mean) ? "" : "; expected net value of the plan " + fmtUsdM(HUBS.net_value_usd_mean) + " M USD") +
      ". Select a hub to zoom the map to it and the sites it takes." }));
    var toggle = h("input", { type: "checkbox", id: "hubs-on-map", checked: true, on: { change: function (ev) {
      [hubLineGroup, hubClosedGroup, hubGroup].forEach(function (g) { if (ev.target.checked) g.addTo(map); else map.removeLayer(g); });
      if (ev.target.checked) { tagHubLayers(); refreshTable(); }
    } } });
    hubsCard.appendChild(h("p", { "class": "filters" }, h("label", {}, toggle, " Show the hubs and the site \u2192 hub lines on the map")));
    if (!opened.length) hubsCard.appendChild(h("p", { id: "hubs-none", text: "The plan opens no hub." }));
    else {
      var headers = ["Hub", "Method", "Sites fed", "Feed t P50 (P10\u2013P90)", "Ga feed t P50", "Te feed t P50", "PGM feed t P50",
        "Net value P50 (P10\u2013P90), M USD"];
      var body = opened.map(function (hb) {
        var select = function () { zoomToHub(hb.hub_id); document.querySelector(".map-card").scrollIntoView({ block: "nearest" }); };
        return h("tr", { "data-hub-id": hb.hub_id, "class": "selectable", tabindex: "0", title: "Zoom the map to this hub",
          on: { click: select, keydown: function (ev) { if (ev.key === "Enter") select(); } } },
          h("th", { scope: "row" }, h("span", { text: hb.hub_id }), hb.name ? h("span", { "class": "range", text: hb.name }) : null),
          h("td", { text: hb.method || "\u2014" }),
          h("td", { "class": "num", text: missing(hb.n_assigned) ? "\u2014" : String(hb.n_assigned) }),
          h("td", { "class": "num" }, spread(hb, "feed_t")),
          ["ga", "te", "pgm"].map(function (m) { return h("td", { "class": "num", text: fmt(hb["feed_" + m + "_t_p50"]) }); }),
          h("td", { "class": "num" }, usdM(hb, "net_value_usd")));
      });
      hubsCard.appendChild(h("div", { "class": "hubs-scroll" }, h("table", { id: "hubs-table" },
        h("thead", {}, h("tr", {}, headers.map(function (x, i) { return h("th", { scope: "col", "class": i > 1 ? "num" : null, text: x }); }))),
        h("tbody", {}, body))));
    }
    hubsCard.appendChild(h("p", { "class": "note", id: "hubs-costs", text: "Haul cost per t-km, road circuity, hub fixed cost, capacity and " +
      "minimum feed are screening assumptions (see the README, \u201cHub plan\u201d): use these net values to compare plans, not to decide " +
      "on an investment. Net value = value of the feed \u2212 haul \u2212 the hub's fixed cost, per Monte Carlo draw; P10\u2013P90 over the draws." }));
  }
  renderHubs();

  /* ---------- sampling plan: the campaigns, by priority ---------- */
  var planRows = {};
  function pct(v) { return missing(v) ? "\u2014" : Math.round(100 * v) + "%"; }
  function usd(v) { return missing(v) ? "\u2014" : Math.round(v).toLocaleString("en"); }
  function nowAfter(now, after, format) { return format(now) + " \u2192 " + format(after); }
  function campaignRow(c) {
    var known = !!byId[c.site_id], select = function () {
      selectSite(c.site_id, { zoom: true, scroll: false });
      document.querySelector(".map-card").scrollIntoView({ block: "nearest" });
    };
    var source = c.depth_source ? String(c.depth_source).split(" (")[0] : "";
    var tr = h("tr", { "data-site-id": c.site_id, "class": known ? "selectable" : null, tabindex: known ? "0" : null,
      title: known ? "Zoom the map to this campaign's holes" : null,
      on: known ? { click: select, keydown: function (ev) { if (ev.key === "Enter") select(); } } : {} },
      h("td", { "class": "num", text: String(c.priority) }),
      h("th", { scope: "row" }, h("span", { text: c.site_id }), known && byId[c.site_id].props.name ?
        h("span", { "class": "range", text: byId[c.site_id].props.name }) : null),
      h("td", { "class": "num", text: String(c.holes) }),
      h("td", { "class": "num", title: c.depth_source || null }, h("span", { text: fmt(c.planned_depth_m) }),
        source ? h("span", { "class": "range", text: source }) : null),
      h("td", { "class": "num", text: fmt(c.expected_gain) }),
      h("td", { "class": "num", text: pct(c.p_top_n_now) }),
      h("td", { "class": "num", text: nowAfter(c.misclassification_now, c.misclassification_after, pct) }),
      h("td", { "class": "num", text: nowAfter(c.value_p10_p90_width_now_usd, c.value_p10_p90_width_after_usd, fmtUsdM) }),
      h("td", {}, missing(c.confidence_now) ? "\u2014" : confChip(c.confidence_now)),
      h("td", { "class": "num", text: pct(c.p_confidence_upgrade) }),
      h("td", { "class": "num", text: usd(c.campaign_cost_usd) }));
    if (known) planRows[c.site_id] = tr;
    return tr;
  }
  function planSummary() {
    var best = PLAN.campaigns.filter(function (c) { return !missing(c.top_n_expected_wrong_after); })
      .sort(function (a, b) { return a.top_n_expected_wrong_after - b.top_n_expected_wrong_after; })[0];
    var now = PLAN.campaigns[0].top_n_expected_wrong_now;
    return PLAN.n_holes + " planned hole" + (PLAN.n_holes === 1 ? "" : "s") + " at " + PLAN.n_sites + " site" + (PLAN.n_sites === 1 ? "" : "s") +
      ", for the decision of which ranked sites make the top " + (missing(PLAN.top_n) ? "N (the run\u2019s plan_top_n, not recorded in this inventory)" : PLAN.top_n) +
      " by value." +
      (missing(now) ? "" : " Expected wrong top-N members now " + fmt(now) +
        (best ? "; after the best single campaign (" + best.site_id + ") " + fmt(best.top_n_expected_wrong_after) : "") +
        " \u2014 each campaign\u2019s effect is its own, against the current estimates; the plan does not add them up.") +
      " Select a campaign to zoom the map to its holes.";
  }
  function renderPlan() {
    planCard.appendChild(h("h2", { text: "Sampling plan" }));
    if (PLAN.status !== "ok") { planCard.appendChild(h("p", { "class": "note", id: "sampling-note", text: PLAN.message })); return; }
    planCard.appendChild(h("p", { "class": "note", id: "sampling-summary", text: planSummary() }));
    if (!missing(PLAN.cost_usd)) {
      planCard.appendChild(h("p", { "class": "disclaimer", id: "sampling-cost" }, "Placeholder cost: ", h("b", { text: usd(PLAN.cost_usd) + " USD" }),
        " for the " + PLAN.n_sites + " campaign" + (PLAN.n_sites === 1 ? "" : "s") + " (USD per hole drilled, logged and assayed plus " +
        "mobilisation per site visited). A placeholder assumption (settings cost_per_hole and mobilisation_cost), not a quote: " +
        "ask drilling contractors for quotes before budgeting a campaign."));
    }
    var toggle = h("input", { type: "checkbox", id: "sampling-on-map", checked: true, on: { change: function (ev) {
      if (ev.target.checked) { planGroup.addTo(map); refreshTable(); } else map.removeLayer(planGroup);
    } } });
    planCard.appendChild(h("p", { "class": "filters" }, h("label", {}, toggle, " Show the planned holes on the map")));
    var headers = ["Priority", "Site", "Holes", "Planned depth, m", "Expected gain", "P(top N) now", "Wrong side of the top N: now \u2192 after",
      "Value P10\u2013P90 width, M USD: now \u2192 after", "Confidence now", "P(confidence class upgrade)", "Cost, USD (placeholder)"];
    planCard.appendChild(h("div", { "class": "plan-scroll" }, h("table", { id: "sampling-table" },
      h("thead", {}, h("tr", {}, headers.map(function (x, i) { return h("th", { scope: "col", "class": [1, 8].indexOf(i) < 0 ? "num" : null, text: x }); }))),
      h("tbody", {}, PLAN.campaigns.map(campaignRow)))));
    planCard.appendChild(h("p", { "class": "note", id: "sampling-notes", text: "Expected gain: the expected number of wrong top-N members this " +
      "campaign alone avoids (value of sample information, by pre-posterior simulation on the estimates\u2019 own draws). Wrong side of the " +
      "top N: the site\u2019s own chance of being chosen when it is not in the true top N, or left out when it is. Width after: the expected " +
      "P10\u2013P90 width of the site\u2019s value once the holes are assayed (grade uncertainty only; tonnes and recoveries as now). " +
      "Confidence class upgrade: the class rule applied after the campaign (any hole makes a G4 site G3). Planned depth: the site\u2019s mean " +
      "thickness, or its residue type\u2019s thickness prior where the tonnage is a reported figure. The holes are also in " +
      "sampling_plan.csv and sampling_plan.gpx (waypoints for handheld GPS units); see the README, \u201cSampling plan\u201d." }));
  }
  renderPlan();

  /* ---------- evidence panel ---------- */
  function table(headers, body, cls) {
    return h("table", { "class": "evidence-table " + (cls || "") },
      h("thead", {}, h("tr", {}, headers.map(function (x, i) { return h("th", { "class": i ? "num" : null, text: x }); }))),
      h("tbody", {}, body.map(function (r) {
        return h("tr", {}, r.map(function (x, i) { return h(i ? "td" : "th", { "class": i ? "num" : null, scope: i ? null : "row", text: x }); }));
      })));
  }
  function pcts(p, prefix) { return ["p10", "p50", "p90"].map(function (q) { return fmt(p[prefix + "_" + q]); }); }
  function elementChips(onChange) {
    return h("div", { "class": "chips" }, ELEMENTS.map(function (e) {
      return h("button", { type: "button", "aria-pressed": state.element === e ? "true" : "false", "data-element": e, text: LABEL[e],
        on: { click: function () { state.element = e; onChange(); } } });
    }));
  }

  function spread(p, prefix) {
    // "P50" over a small "P10–P90" line; a percentile that was not published shows as a dash.
    var q = ["p10", "p50", "p90"].map(function (k) { return p[prefix + "_" + k]; });
    var cell = h("span", {}, h("span", { text: fmt(q[1]) }));
    if (!missing(q[0]) || !missing(q[2])) cell.appendChild(h("span", { "class": "range", text: fmt(q[0]) + "\u2013" + fmt(q[2]) }));
    return cell;
  }
  function cellTable(headers, body, cls) {
    return h("table", { "class": "evidence-table " + (cls || "") },
      h("thead", {}, h("tr", {}, headers.map(function (x, i) { return h("th", { "class": i ? "num" : null, text: x }); }))),
      h("tbody", {}, body.map(function (r) {
        return h("tr", {}, r.map(function (x, i) { return h(i ? "td" : "th", { "class": i ? "num" : null, scope: i ? null : "row" }, x); }));
      })));
  }

  function metalsSection(p) {
    var out = [h("h3", { text: "Tonnage, grade and metal: P50 (P10\u2013P90)" })];
    var body = [["Residue, t", spread(p, "tonnes"), "", ""]];
    METALS.filter(function (m) { return (m + "_grade_gt_p50") in p; }).forEach(function (m) {
      body.push([LABEL[m], spread(p, m + "_grade_gt"), spread(p, m + "_contained_t"), spread(p, m + "_recoverable_t")]);
    });
    if ("value_usd_p50" in p) {
      var v = {}; ["p10", "p50", "p90"].forEach(function (k) { v["usd_" + k] = num(p["value_usd_" + k]) === null ? null : p["value_usd_" + k] / 1e6; });
      body.push(["Value, M USD", "", "", spread(v, "usd")]);
    }
    out.push(cellTable(["", "Grade g/t", "Contained t", "Recoverable t"], body, "metals"));
    var how = [p.volume_method && "Tonnage: " + (METHODS[p.volume_method] || String(p.volume_method).replace(/_/g, " ")),
      !missing(p.density_t_m3) && "dry density " + fmt(p.density_t_m3) + " t/m\u00b3",
      !missing(p.tonnes_vs_reported) && "ratio to reported tonnes " + fmt(p.tonnes_vs_reported)].filter(Boolean).join("; ");
    if (how) out.push(h("p", { "class": "note", text: how + "." }));
    out.push(h("p", { "class": "note", text: "Grade is the deposit mean. Recoverable = above cut-off \u00d7 recovery." +
      ("score" in p ? " Score " + fmtUsdM(p.score) + " M USD = P50 value \u00d7 confidence weight " + fmt(p.confidence_weight) + "." : "") }));
    return out;
  }

  function hubSection(p) {
    var out = [h("h3", { text: "Processing hub" })];
    if (HUBS.status !== "ok") { out.push(h("p", { "class": "note", id: "hub-feed", text: HUBS.message })); return out; }
    var a = hubLineOf[p.site_id];
    if (!a) {
      out.push(h("p", { id: "hub-feed", text: "Feeds no hub in this plan." }));
      out.push(h("p", { "class": "note", text: "A site feeds no hub when no opened hub is within haul reach, when the haul would cost more than its " +
        "value, when the hubs in reach are full, or when it is not ranked (excluded by review or held for a tonnage check)." }));
      return out;
    }
    var hb = hubById[a.hub_id] || {};
    out.push(h("p", { id: "hub-feed" }, "Feeds hub ", h("b", { text: a.hub_id }), (hb.name ? ", " + hb.name : "") + ": " +
      fmt(a.road_km) + " road km (" + fmt(a.geodesic_km) + " km straight); expected net value " + fmtUsdM(a.net_value_usd_mean) +
      " M USD (value " + fmtUsdM(a.value_usd_mean) + " \u2212 haul " + fmtUsdM(a.haul_cost_usd_mean) + ") ",
      h("button", { type: "button", "class": "btn", text: "Show hub", on: { click: function () { zoomToHub(a.hub_id); } } })));
    out.push(h("p", { "class": "note", text: "Means over the draws, before the hub's fixed cost; costs are screening assumptions (README, \u201cHub plan\u201d)." }));
    return out;
  }

  function planSection(p) {
    var out = [h("h3", { text: "Sampling plan" })];
    if (PLAN.status !== "ok") { out.push(h("p", { "class": "note", id: "plan-site", text: PLAN.message })); return out; }
    var c = campaignOf[p.site_id];
    if (!c) {
      out.push(h("p", { id: "plan-site", text: "No holes planned at this site." }));
      out.push(h("p", { "class": "note", text: "A site gets no holes when whether it makes the top N is already near-certain, when holes " +
        "there would gain less than the minimum, or when the hole budget went to campaigns that gain more per hole." }));
      return out;
    }
    out.push(h("p", { id: "plan-site" }, "Priority " + c.priority + " of " + PLAN.n_sites + ": ", h("b", { text: c.holes + " planned holes" }),
      " to " + fmt(c.planned_depth_m) + " m; expected gain " + fmt(c.expected_gain) + " wrong top-N members avoided; chance of being on " +
      "the wrong side of the top N " + nowAfter(c.misclassification_now, c.misclassification_after, pct) + ". ",
      h("button", { type: "button", "class": "btn", text: "Show holes", on: { click: function () { zoomTo(p.site_id); } } })));
    return out;
  }

  function samplesSection(p) {
    var holes = holesOf(p.site_id), n = holes.reduce(function (s, ho) { return s + ho.rows.length; }, 0);
    var out = [h("h3", { text: "Samples" })];
    if (!n) { out.push(h("p", { "class": "note", text: "No samples at this site: its grade comes from the residue-type model." })); return out; }
    out.push(h("p", { text: n + " assay intervals in " + holes.length + " holes, drawn on the map coloured by the length-weighted " + LABEL[state.element] + " grade of each hole (purple low, yellow high; hollow: below detection only)." }));
    out.push(elementChips(function () { drawSamples(p.site_id); renderEvidence(p.site_id); }));
    return out;
  }

  function curveSvg(points) {
    var W = 380, H = 236, L0 = 58, R0 = 48, T0 = 36, B0 = 34;
    var xs = points.map(function (q) { return +q.cutoff_gt; });
    var yKeys = ["tonnes", "tonnes_p10", "tonnes_p90"];
    var ys = []; points.forEach(function (q) { yKeys.forEach(function (k) { if (!missing(q[k])) ys.push(+q[k]); }); });
    var gs = points.map(function (q) { return num(q.grade_gt); }).filter(function (v) { return v !== null; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y1 = Math.max.apply(null, ys.concat([0])) || 1;
    var g1 = Math.max.apply(null, gs.concat([0])) || 1;
    function X(v) { return L0 + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * (W - L0 - R0); }
    function Y(v, top) { return T0 + (1 - v / top) * (H - T0 - B0); }
    function path(key, top) {
      return points.filter(function (q) { return !missing(q[key]); })
        .map(function (q, i) { return (i ? "L" : "M") + X(+q.cutoff_gt).toFixed(1) + "," + Y(+q[key], top).toFixed(1); }).join("");
    }
    var s = '<svg class="curve" id="grade-tonnage-svg" width="' + W + '" height="' + H + '" role="img" aria-label="grade-tonnage curve">';
    s += '<rect x="' + L0 + '" y="' + T0 + '" width="' + (W - L0 - R0) + '" height="' + (H - T0 - B0) + '" fill="#fafbfc" stroke="#ccc"/>';
    [0, 0.5, 1].forEach(function (f) {
      s += '<text x="' + (L0 - 4) + '" y="' + (Y(f * y1, y1) + 3) + '" text-anchor="end">' + fmt(f * y1) + "</text>";
      if (gs.length) s += '<text x="' + (W - R0 + 4) + '" y="' + (Y(f * g1, g1) + 3) + '">' + fmt(f * g1) + "</text>";
    });
    [x0, (x0 + x1) / 2, x1].forEach(function (v) { s += '<text x="' + X(v) + '" y="' + (H - B0 + 13) + '" text-anchor="middle">' + fmt(v) + "</text>"; });
    s += '<text x="' + ((L0 + W - R0) / 2) + '" y="' + (H - 4) + '" text-anchor="middle">cut-off grade (g/t)</text>';
    var band = points.some(function (q) { return !missing(q.tonnes_p10) && !missing(q.tonnes_p90); });
    if (band) {
      var banded = points.filter(function (q) { return !missing(q.tonnes_p10) && !missing(q.tonnes_p90); });
      var d = banded.map(function (q, i) { return (i ? "L" : "M") + X(+q.cutoff_gt) + "," + Y(+q.tonnes_p90, y1); }).join("") +
        banded.slice().reverse().map(function (q) { return "L" + X(+q.cutoff_gt) + "," + Y(+q.tonnes_p10, y1); }).join("") + "Z";
      s += '<path d="' + d + '" fill="#9ecae1" opacity="0.5"/>';
    }
    s += '<path d="' + path("tonnes", y1) + '" fill="none" stroke="#08519c" stroke-width="2"/>';
    if (gs.length) s += '<path d="' + path("grade_gt", g1) + '" fill="none" stroke="#d7301f" stroke-width="2" stroke-dasharray="5 3"/>';
    s += '<text x="' + L0 + '" y="11" fill="#08519c">\u2014 tonnes above cut-off (left)' +
      (band ? ", band P10\u2013P90" : "") + (gs.length ? '</text><text x="' + L0 + '" y="24" fill="#d7301f">- - mean grade above cut-off (g/t, right)' : "") + "</text>";
    return s + "</svg>";
  }
  function curveSection(p) {
    var gt = DATA.grade_tonnage || { status: "absent" };
    var out = [h("h3", { text: "Grade\u2013tonnage curve" })];
    if (gt.status !== "ok") { out.push(h("p", { "class": "note", id: "grade-tonnage-note", text: gt.message || "No grade-tonnage data." })); return out; }
    var curves = gt.curves[p.site_id] || {};
    var keys = Object.keys(curves);
    if (!keys.length) { out.push(h("p", { "class": "note", id: "grade-tonnage-note", text: "No grade-tonnage curve for this site." })); return out; }
    var e = curves[state.element] ? state.element : (curves.all ? "all" : keys[0]);
    var note = ((gt.notes || {})[p.site_id] || {})[e] || {};
    var about = ["grade_method", "grade_support", "cutoff_basis"].filter(function (k) { return !missing(note[k]); })
      .map(function (k) { return k.replace(/_/g, " ") + ": " + note[k]; });
    out.push(h("p", { "class": "note", text: (LABEL[e] || e) + (e === state.element ? "" : " (no curve for " + LABEL[state.element] + ")") +
      (about.length ? "; " + about.join("; ") : "") + ". From grade_tonnage columns " +
      Object.keys(gt.columns).map(function (k) { return gt.columns[k]; }).join(", ") + "." }));
    var box = h("div", {}); box.innerHTML = curveSvg(curves[e]);
    out.push(box);
    return out;
  }

  function fitSection(p) {
    var fits = DATA.fits || { status: "absent" };
    var out = [h("h3", { text: "Grade model fit" })];
    var rowsFor = (fits.by_site || {})[p.site_id] || [];
    if (fits.status === "per_site" && rowsFor.length) {
      var keys = Object.keys(rowsFor[0]);
      out.push(table(keys, rowsFor.map(function (r) { return keys.map(function (k) { return typeof r[k] === "number" ? fmt(r[k]) : String(r[k] === null ? "\u2014" : r[k]); }); }), "fit"));
    } else if (fits.status === "chosen" && rowsFor.length) {
      out.push(table(["Element", "Grade model used"], rowsFor.map(function (r) { return [LABEL[r.element] || r.element, String(r.method)]; }), "fit"));
    } else {
      out.push(h("p", { "class": "note", id: "fit-note", text: fits.message || (+p.n_samples ? "No per-site fit published for this site." : "Unsampled site: no within-site model.") }));
    }
    if ((fits.pooled || []).length) {
      out.push(h("p", { "class": "note", text: "Pooled within-site validation (all sampled sites, log g/t, blocked CV):" }));
      out.push(table(["Element", "RMSE", "Bias", "R\u00b2", "80% coverage"], fits.pooled.map(function (r) {
        return [LABEL[r.element] || r.element, fmt(r.rmse), fmt(r.bias), fmt(r.r2), fmt(r.coverage80)];
      }), "pooled"));
    }
    return out;
  }

  function reviewSection(p) {
    var out = [h("h3", { text: "Review" })];
    var hist = (state.reviews.rows || []).filter(function (r) { return r.site_id === p.site_id; });
    var now = latest(p.site_id);
    out.push(h("p", {}, "Decision in force: ", now ? statusChip(p.site_id) : h("b", { text: "none (unreviewed)" }),
      now ? " by " + now.reviewer + ", " + now.timestamp.slice(0, 19).replace("T", " ") + " UTC" : ""));
    if (hist.length) {
      out.push(table(["When (UTC)", "Reviewer", "Decision", "Note"], hist.slice().reverse().map(function (r) {
        return [r.timestamp.slice(0, 19).replace("T", " "), r.reviewer, r.decision, r.note];
      }), "history"));
    } else out.push(h("p", { "class": "note", id: "history-empty", text: "No decision recorded for this site yet." }));
    if (state.reviews.quarantined) out.push(h("p", { "class": "note", text: state.reviews.quarantined + " unreadable row(s) in the reviews file were ignored." }));
    if (SERVER) out.push(reviewForm(p));
    else out.push(h("p", { "class": "note", id: "read-only-note", text: "Read-only: to record a decision, run `residua review --out <this folder>` and open the address it prints." +
      (state.reviews.source ? " History from " + state.reviews.source + "." : "") }));
    return out;
  }
  function reviewForm(p) {
    var msg = h("span", { "class": "msg", id: "review-msg", role: "status" });
    var saved = ""; try { saved = window.localStorage.getItem("residua.reviewer") || ""; } catch (err) { saved = ""; }
    var form = h("form", { "class": "review", id: "review-form" },
      h("div", { "class": "row" }, h("b", { text: "Record a decision for " + p.site_id + ":" })),
      h("div", { "class": "row" }, DECISIONS.map(function (d) {
        return h("label", {}, h("input", { type: "radio", name: "decision", value: d[0], required: true }), " " + d[1]);
      })),
      h("div", { "class": "row" }, h("label", { style: "flex:1" }, "Reviewer", h("input", { type: "text", name: "reviewer", required: true, value: saved, autocomplete: "name" }))),
      h("div", { "class": "row" }, h("label", { style: "flex:1" }, "Note", h("textarea", { name: "note", placeholder: "why (e.g. pond capped in 2019; needs auger holes in the north cell)" }))),
      h("div", { "class": "row" }, h("button", { type: "submit", "class": "btn primary", id: "review-submit", text: "Record decision" }), msg));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var fd = new FormData(form), body = { site_id: p.site_id, decision: fd.get("decision") || "", note: fd.get("note") || "", reviewer: (fd.get("reviewer") || "").trim() };
      if (!body.reviewer) { msg.className = "msg error"; msg.textContent = "Enter your name as reviewer."; return; }
      try { window.localStorage.setItem("residua.reviewer", body.reviewer); } catch (err) { /* file or private mode */ }
      msg.className = "msg"; msg.textContent = "Saving\u2026";
      fetch(SERVER.api, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
        .then(function (res) { return res.json().then(function (j) { return { ok: res.ok, json: j }; }); })
        .then(function (r) {
          if (!r.ok) { msg.className = "msg error"; msg.textContent = r.json.error || "The server refused the decision."; return; }
          state.reviews = r.json.reviews;
          refreshTable(); renderEvidence(p.site_id);
          var m = document.getElementById("review-msg");
          m.className = "msg ok"; m.textContent = "Recorded: " + r.json.row.decision + " by " + r.json.row.reviewer + ".";
        })
        .catch(function (err) { msg.className = "msg error"; msg.textContent = "Could not reach the review server: " + err; });
    });
    return form;
  }

  function shortHash(sha) {
    return missing(sha) ? "" : h("code", { "class": "hash", title: "SHA-256 " + sha, text: String(sha).slice(0, 12) });
  }
  function lineageSection(p) {
    var lin = DATA.lineage || { status: "absent", message: "No lineage table in this inventory." };
    var out = [h("h3", { text: "Lineage" })], r = (lin.by_site || {})[p.site_id];
    if (!r) { out.push(h("p", { "class": "note", id: "lineage", text: lin.message || "No lineage row for this site." })); return out; }
    var n = num(r.n_samples) || 0, holes = num(r.n_holes) || 0;
    function count(k, what) { return k + " " + what + (k === 1 ? "" : "s"); }
    var row = (r.sites_file || "sites file") + " row " + (missing(r.sites_row) ? "?" : r.sites_row);
    var body = [["Sites row", row, shortHash(r.sites_row_sha256)],
      ["Footprint", r.footprint_sha256 ? "geometry" : "none", shortHash(r.footprint_sha256)],
      ["Samples", n ? count(n, "sample") + " in " + count(holes, "hole") : "no samples", shortHash(r.samples_sha256)]];
    ["surface", "base"].forEach(function (d) {
      if (r[d + "_dem"]) body.push([d.charAt(0).toUpperCase() + d.slice(1) + " DEM", r[d + "_dem"], shortHash(r[d + "_dem_sha256"])]);
    });
    if (!r.surface_dem && !r.base_dem) body.push(["DEMs", "none", ""]);
    Object.keys(r.covariates || {}).sort().forEach(function (k) {
      body.push(["Covariate", k.replace(/^rasters\/covariates\//, ""), shortHash(r.covariates[k])]);
    });
    var models = r.grade_models || {};
    function order(e) { var i = ELEMENTS.indexOf(e); return i < 0 ? ELEMENTS.length : i; }
    Object.keys(models).sort(function (a, b) { return order(a) - order(b) || a.localeCompare(b); })
      .forEach(function (e) { body.push(["Grade model " + (LABEL[e] || e), String(models[e]), ""]); });
    var refs = Object.keys(r.reference_rows || {}).sort();
    var box = h("div", { id: "lineage" }, cellTable(["Input", "Source", "SHA-256"], body, "lineage"));
    if (refs.length) {
      box.appendChild(h("details", { "class": "reference-rows" }, h("summary", { text: "Reference table rows used (" + refs.length + ")" }),
        cellTable(["Table", "Row", "SHA-256 (16)"], refs.map(function (k) {
          var at = k.indexOf(":");
          return [k.slice(0, at), k.slice(at + 1), shortHash(r.reference_rows[k])];
        }), "lineage")));
    }
    box.appendChild(h("p", { "class": "note", text: "Hashes shortened to 12 characters; hover one for all of it." +
      (r.grade_models_source === "model cards" ? " Grade models: this release's model cards (the same for every site)." : "") +
      (Object.keys(models).length ? "" : " No grade model recorded.") }));
    out.push(box);
    return out;
  }

  function attributesSection(p) {
    var d = h("details", {}, h("summary", { text: "All published attributes" }));
    d.appendChild(table(["Attribute", "Value"], Object.keys(p).map(function (k) {
      return [k, typeof p[k] === "number" ? fmt(p[k]) : (missing(p[k]) ? "\u2014" : String(p[k]))];
    }), "attributes"));
    return d;
  }

  function renderEvidence(siteId) {
    var p = byId[siteId].props, c = confOf(p.confidence);
    evidence.textContent = "";
    evidence.setAttribute("data-site-id", siteId);
    evidence.appendChild(h("h2", { id: "evidence-title", text: rankLabel(p) + " " + p.site_id + " \u2014 " + (p.name || "") }));
    evidence.appendChild(h("p", {}, confChip(p.confidence), " " + c.description + " \u00b7 " + [p.residue_type, p.state, p.operator].filter(function (x) { return !missing(x); }).join(" \u00b7 ") + " ",
      h("button", { type: "button", "class": "btn", text: "Zoom to site", on: { click: function () { zoomTo(siteId); } } })));
    [metalsSection(p), hubSection(p), planSection(p), samplesSection(p), curveSection(p), fitSection(p), reviewSection(p), lineageSection(p)].forEach(function (parts) {
      parts.forEach(function (x) { evidence.appendChild(x); });
    });
    evidence.appendChild(attributesSection(p));
    evidence.appendChild(h("p", { "class": "note", text: "Screening estimates, not a compliant mineral resource statement." }));
  }

  function zoomTo(siteId) {
    var l = layers[siteId];
    if (!l) return;
    var b = l.shape.getBounds ? l.shape.getBounds() : L.latLngBounds([l.shape.getLatLng(), l.shape.getLatLng()]);
    sampleGroup.getLayers().concat(planHolesOf[siteId] || []).forEach(function (m) { b.extend(m.getLatLng()); });
    map.fitBounds(b.pad(0.25), { maxZoom: 18, animate: false });
  }

  function selectSite(siteId, opts) {
    if (!byId[siteId]) return;
    if (state.selected && layers[state.selected]) {
      [layers[state.selected].shape, layers[state.selected].marker, hubLines[state.selected]].forEach(function (l) {
        if (l && l.getElement()) l.getElement().classList.remove("selected");
      });
      if (rows[state.selected]) { rows[state.selected].classList.remove("selected"); rows[state.selected].removeAttribute("aria-selected"); }
      [changeRows[state.selected], planRows[state.selected]].forEach(function (r) { if (r) r.classList.remove("selected"); });
    }
    state.selected = siteId;
    var l = layers[siteId];
    if (hubLines[siteId] && hubLines[siteId].getElement()) hubLines[siteId].getElement().classList.add("selected");
    if (l) [l.shape, l.marker].forEach(function (x) { if (x && x.getElement()) { x.getElement().classList.add("selected"); x.bringToFront(); } });
    rows[siteId].classList.add("selected");
    rows[siteId].setAttribute("aria-selected", "true");
    [changeRows[siteId], planRows[siteId]].forEach(function (r) { if (r) r.classList.add("selected"); });
    drawSamples(siteId);
    if (opts && opts.zoom) zoomTo(siteId);
    if (opts && opts.scroll) rows[siteId].scrollIntoView({ block: "nearest" });
    renderEvidence(siteId);
  }

  refreshTable();
  window.residuaReview = { selectSite: selectSite, map: map, state: state };
  if (SERVER) {
    fetch(SERVER.api).then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
      if (j && j.reviews) { state.reviews = j.reviews; refreshTable(); if (state.selected) renderEvidence(state.selected); }
    }).catch(function () { /* keep the embedded history */ });
  }
  document.body.setAttribute("data-ready", "true");
})();
