// PulseEcom dashboard and report: draws one tenant's snapshot (see pulse/api/dashboard_data.py) with uPlot.
// The page fetches /dashboard/data every few seconds; the report carries its snapshot inline.
"use strict";

const METRICS = [
  ["orders", "Orders"], ["revenue", "Revenue"], ["conversion", "Conversion (orders per session)"],
  ["payment_failures", "Payment failures"], ["traffic", "Traffic (events)"],
];
const pulse = { charts: {}, renders: 0, actions: 0, live: false, hours: null };
window.pulse = pulse;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function fmt(value) {
  return value === null || value === undefined ? "-" : Number(value).toLocaleString("en", { maximumFractionDigits: 2 });
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "-";
}

function drawChart(holder, key, label, points) {
  const data = [points.t, points.value, points.lower, points.upper];
  const opts = {
    title: label, width: Math.max(holder.clientWidth - 8, 300), height: 200, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    series: [
      {},
      { label: label, stroke: "#1f5fbf", width: 1.5 },
      { label: "expected low", stroke: "#9bb7e0", dash: [4, 4] },
      { label: "expected high", stroke: "#9bb7e0", dash: [4, 4] },
    ],
    bands: [{ series: [3, 2], fill: "rgba(31,95,191,0.12)" }],
    axes: [{}, { size: 70 }],
    legend: { show: true },
  };
  const old = pulse.charts[key];
  if (old) old.destroy();
  const box = el("div", undefined, "chart");
  box.dataset.metric = key;
  box.dataset.points = String(points.t.length);
  holder.replaceChildren(box);
  pulse.charts[key] = new uPlot(opts, data, box);
}

function renderCharts(series) {
  const root = document.getElementById("charts");
  for (const [key, label] of METRICS) {
    let holder = document.getElementById("chart-" + key);
    if (!holder) {
      holder = el("div", undefined, "chart-holder");
      holder.id = "chart-" + key;
      root.appendChild(holder);
    }
    const points = series[key];
    if (!points || points.t.length === 0) {
      holder.replaceChildren(el("p", label + ": no per-minute values from the metric models in this window.", "muted"));
      delete pulse.charts[key];
    } else {
      drawChart(holder, key, label, points);
    }
  }
}

function renderTotals(snapshot) {
  const t = snapshot.totals;
  const tiles = [
    ["Events", t.events], ["Orders", t.orders], ["Revenue", t.revenue], ["Sessions", t.sessions],
    ["Payment failures", t.payment_failures],
    ["Open incidents", snapshot.incidents.filter((i) => i.status !== "resolved").length],
  ];
  document.getElementById("totals").replaceChildren(...tiles.map(([name, value]) => {
    const tile = el("div", undefined, "tile");
    tile.append(el("span", fmt(value), "value"), el("span", name, "name"));
    return tile;
  }));
  document.getElementById("window").textContent =
    "Window: " + when(snapshot.start) + " to " + when(snapshot.end) + " (ends at the latest data)";
}

const LABELS = [["true_problem", "True problem"], ["false_alarm", "False alarm"], ["expected", "Expected"]];
const drafts = {}; // what was typed into an incident's assign/note field, kept across refreshes

function workText(work) {
  if (!work) return "";
  const parts = [];
  if (work.acknowledged_by) parts.push("acknowledged by " + work.acknowledged_by);
  if (work.assignee) parts.push("assigned to " + work.assignee);
  if (work.resolved_by_hand) parts.push("resolved by hand");
  if (work.label) parts.push("label: " + work.label.replace("_", " "));
  if (work.notes) parts.push(work.notes + (work.notes === 1 ? " note" : " notes"));
  return parts.join(" · ");
}

async function act(incidentId, action, body) {
  const status = document.getElementById("status");
  const by = document.getElementById("actor").value.trim();
  if (!by) {
    status.textContent = "Type your name (top of the page) before acting on an incident.";
    return;
  }
  localStorage.setItem("pulse-actor", by);
  const response = await fetch("/dashboard/incidents/" + encodeURIComponent(incidentId) + "/" + action, {
    method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
    body: JSON.stringify(Object.assign({ by: by }, body || {})),
  });
  if (!response.ok) {
    status.textContent = action + " failed: HTTP " + response.status;
    return;
  }
  pulse.actions += 1;
  await refresh(pulse.hours);
}

function button(text, name, onClick) {
  const b = el("button", text);
  b.type = "button";
  b.name = name;
  b.addEventListener("click", onClick);
  return b;
}

function field(incidentId, name, placeholder, action, key) {
  const input = el("input");
  input.name = name;
  input.placeholder = placeholder;
  input.value = drafts[incidentId + name] || "";
  input.addEventListener("input", () => { drafts[incidentId + name] = input.value; });
  const go = button(action === "assign" ? "Assign" : "Add note", action, () => {
    if (!input.value.trim()) return;
    delete drafts[incidentId + name];
    act(incidentId, action, { [key]: input.value.trim() });
  });
  return [input, go];
}

function actionBar(i) {
  const bar = el("div", undefined, "actions");
  const id = i.incident_id;
  const resolved = i.work && i.work.resolved_by_hand;
  bar.append(button("Acknowledge", "acknowledge", () => act(id, "acknowledge")),
    resolved ? button("Reopen", "reopen", () => act(id, "reopen")) : button("Resolve", "resolve", () => act(id, "resolve")),
    button("Silence until resolved", "silence", () => act(id, "silence")),
    ...LABELS.map(([label, text]) => button(text, "label-" + label, () => act(id, "label", { label: label }))),
    ...field(id, "assignee", "assign to…", "assign", "assignee"), ...field(id, "note", "note…", "note", "text"));
  return bar;
}

function renderIncidents(incidents) {
  const root = document.getElementById("incidents");
  if (incidents.length === 0) {
    root.replaceChildren(el("p", "No open incidents and none opened in this window.", "muted"));
    return;
  }
  root.replaceChildren(...incidents.map((i) => {
    const card = el("article", undefined, "incident " + i.status + " sev-" + i.severity);
    card.dataset.incidentId = i.incident_id;
    card.id = i.incident_id;
    const head = el("h3");
    head.append(el("span", i.status, "badge"), el("span", i.severity, "badge sev"),
      document.createTextNode(" " + i.cause + " (" + i.alert_count + " alerts) opened " + when(i.opened_at)));
    card.append(head, el("p", i.summary), el("p", workText(i.work), "work"), el("p", i.incident_id, "muted id"));
    if (pulse.live) card.append(actionBar(i));
    return card;
  }));
}

function renderPrecision(causes) {
  const body = document.querySelector("#precision tbody");
  const labelled = (causes || []).filter((c) => c.labelled > 0);
  if (labelled.length === 0) {
    const row = el("tr");
    const cell = el("td", "No labels yet: label incidents as true problem, false alarm or expected.", "muted");
    cell.colSpan = 5;
    row.append(cell);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...labelled.map((c) => {
    const row = el("tr");
    row.dataset.cause = c.cause;
    row.append(el("td", c.cause), el("td", c.kind), el("td", fmt(c.labelled), "num"),
      el("td", c.true_problem + " / " + c.false_alarm + " / " + c.expected, "num"),
      el("td", Math.round(c.precision * 100) + "%", "num precision"));
    return row;
  }));
}

function renderHeldBack(count) {
  const n = count || 0;
  document.getElementById("held-back").textContent =
    fmt(n) + (n === 1 ? " alert" : " alerts") + " held back by labels (like an incident labelled false alarm or expected)";
}

function renderRules(rules) {
  const body = document.querySelector("#rules tbody");
  if (rules.length === 0) {
    const row = el("tr");
    const cell = el("td", "Nothing fired in this window.", "muted");
    cell.colSpan = 4;
    row.append(cell);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...rules.map((r) => {
    const row = el("tr");
    row.append(el("td", r.cause), el("td", r.kind), el("td", fmt(r.alerts), "num"), el("td", when(r.last)));
    return row;
  }));
}

function renderUsage(snapshot) {
  const root = document.getElementById("usage");
  const plan = el("p", "Plan: " + (snapshot.plan || root.dataset.plan));
  if (!snapshot.usage) {
    root.replaceChildren(plan, el("p", "Usage is not metered yet: there is no usage data to compare with the plan.", "notice"));
    return;
  }
  const table = el("table");
  for (const row of snapshot.usage) {
    for (const [name, value] of Object.entries(row)) {
      const tr = el("tr");
      tr.append(el("th", name), el("td", String(value)));
      table.append(tr);
    }
  }
  root.replaceChildren(plan, table);
}

function render(snapshot) {
  renderTotals(snapshot);
  renderCharts(snapshot.series);
  renderIncidents(snapshot.incidents);
  renderRules(snapshot.top_rules);
  renderPrecision(snapshot.precision);
  renderHeldBack(snapshot.alerts_held_back);
  renderUsage(snapshot);
  pulse.renders += 1;
  pulse.snapshot = snapshot;
  if (pulse.renders === 1) showLinkedIncident();
}

// A link from a notification (/dashboard#<incident id>) scrolls to that incident and marks it.
function showLinkedIncident() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  if (!id) return;
  const card = document.getElementById(id);
  if (card && card.classList.contains("incident")) {
    card.classList.add("linked");
    card.scrollIntoView({ block: "start" });
  } else {
    document.getElementById("linked-note").textContent = "Incident " + id + " is not in this time window.";
  }
}

async function refresh(hours) {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/dashboard/data?hours=" + encodeURIComponent(hours), { credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign("/dashboard");
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    status.textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC.";
  } catch (error) {
    status.textContent = "Could not refresh (" + error.message + "); retrying.";
  }
}

const inline = document.getElementById("pulse-data");
if (inline) {
  render(JSON.parse(inline.textContent));
} else {
  const script = document.currentScript;
  const every = Number(script.dataset.refreshS) * 1000;
  pulse.live = true;
  pulse.hours = script.dataset.hours;
  document.getElementById("actor").value = localStorage.getItem("pulse-actor") || "";
  const refreshAgain = async () => {
    await refresh(pulse.hours);
    setTimeout(refreshAgain, every); // counted from the end of the last refresh, so slow ones never pile up
  };
  refreshAgain();
}
