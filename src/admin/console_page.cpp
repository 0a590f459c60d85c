#include "admin/console_page.h"

#include <string_view>

#include "bindings/selection.h"

namespace snibind::admin {

namespace {

// Laid out like Jexus Manager's HTTP API views: one table per record family, the certificate's
// subject, expiry and health beside each record. Plain DOM, no framework, no external requests.
constexpr const char* kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>snibind admin</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #222; }
  header { background: #1f3a5f; color: #fff; padding: 10px 16px; }
  header h1 { font-size: 18px; margin: 0; display: inline; }
  header span { margin-left: 12px; opacity: .8; }
  nav { display: flex; gap: 4px; padding: 8px 16px 0; border-bottom: 1px solid #ccc; }
  nav button { border: 1px solid #ccc; border-bottom: none; background: #f4f4f4; padding: 6px 12px;
               cursor: pointer; }
  nav button.active { background: #fff; font-weight: 600; }
  section { display: none; padding: 12px 16px; }
  section.active { display: block; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: #f0f3f7; }
  .ok { color: #17702c; } .bad { color: #a11; } .warn { color: #a60; }
  pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
  form label { margin-right: 12px; }
  input[type=text] { width: 220px; }
  .counters { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin-bottom: 12px; }
  .counter { border: 1px solid #ddd; padding: 8px; } .counter b { display: block; font-size: 20px; }
</style>
</head>
<body>
<header><h1>snibind</h1><span id="summary">loading…</span></header>
<nav>
  <button data-view="ip" class="active">IP based</button>
  <button data-view="sni">SNI</button>
  <button data-view="urlacl">URL reservations</button>
  <button data-view="ccs">CCS</button>
  <button data-view="explain">Explain</button>
  <button data-view="stats">Live counters</button>
  <button data-view="netsh">netsh</button>
</nav>
<section id="ip" class="active"><table id="ip-table"></table></section>
<section id="sni"><table id="sni-table"></table></section>
<section id="urlacl"><table id="urlacl-table"></table></section>
<section id="ccs"><table id="ccs-table"></table><h3>CCS folder</h3><table id="ccs-files"></table></section>
<section id="explain">
  <form id="explain-form">
    <label>Destination <input type="text" name="dst" value="127.0.0.1:8443" required></label>
    <label>SNI <input type="text" name="sni" placeholder="(none)"></label>
    <label>Profile <select name="profile">
      <option value="">(configured)</option>@PROFILE_OPTIONS@</select></label>
    <label>Precedence <select name="precedence"><option value="">(configured)</option>
      @PRECEDENCE_OPTIONS@</select></label>
    <button type="submit">Explain</button>
  </form>
  <p id="explain-outcome"></p>
  <table id="explain-trace"></table>
</section>
<section id="stats"><div class="counters" id="counters"></div>
  <table id="steps"></table><h3>Connections by result</h3><table id="results"></table>
  <h3>Record hits</h3><table id="hits"></table></section>
<section id="netsh">
  <form id="netsh-form">
    <p><label>Token <input type="password" name="token"></label></p>
    <p><label>netsh <input type="text" name="command" style="width:700px"
      placeholder="http add sslcert ipport=127.0.0.3:8443 certhash=... appid={...}"></label>
    <button type="submit">Run</button></p>
  </form>
  <pre id="netsh-output"></pre>
</section>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function cell(row, text, cls) {
  const td = row.insertCell(); td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls; return td;
}
function fill(table, headers, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const h of headers) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
  const body = table.createTBody();
  for (const r of rows) { const row = body.insertRow(); r(row); }
  if (rows.length === 0) { const row = body.insertRow(); const td = cell(row, "(none)"); td.colSpan = headers.length; }
}
const healthClass = (h) => h === "ok" ? "ok" : (h === "expires soon" ? "warn" : "bad");
function recordRows(list) {
  return list.map((r) => (row) => {
    cell(row, r.display); cell(row, r.certhash);
    cell(row, r.certificate ? r.certificate.subject : ""); cell(row, r.certificate ? r.certificate.not_after : "");
    cell(row, r.health, healthClass(r.health)); cell(row, r.appid); cell(row, r.store);
    cell(row, r.flags.join(", ")); cell(row, r.action + (r.backend ? " → " + r.backend : ""));
  });
}
const recordHeaders = ["Record", "Certificate hash", "Subject", "Expires", "Health", "Application ID",
                       "Store", "Flags", "Action"];
async function loadRecords() {
  const data = await (await fetch("/api/records")).json();
  fill($("ip-table"), recordHeaders, recordRows(data.ip));
  fill($("sni-table"), recordHeaders, recordRows(data.sni));
  fill($("ccs-table"), ["Record", "Flags", "Action"], data.ccs.map((r) => (row) => {
    cell(row, r.display); cell(row, r.flags.join(", ")); cell(row, r.action); }));
  fill($("ccs-files"), ["File", "Subject", "Expires", "Health"], data.ccs_files.map((f) => (row) => {
    cell(row, f.name); cell(row, f.subject); cell(row, f.not_after); cell(row, f.health, healthClass(f.health)); }));
  fill($("urlacl-table"), ["Reserved URL", "User", "Listen", "Delegate", "SDDL"], data.urlacl.map((u) => (row) => {
    cell(row, u.url); cell(row, u.user); cell(row, u.listen); cell(row, u.delegate); cell(row, u.sddl); }));
  $("summary").textContent = `${data.ip.length + data.sni.length + data.ccs.length} records · ` +
    `profile ${data.profile} · table version ${data.version}`;
}
let lastHandshakes = null, lastTime = null;
async function loadStats() {
  const s = await (await fetch("/api/stats")).json();
  const now = Date.now();
  const rate = lastHandshakes == null ? 0 : (s.handshakes - lastHandshakes) * 1000 / (now - lastTime);
  lastHandshakes = s.handshakes; lastTime = now;
  const c = $("counters"); c.replaceChildren();
  for (const [k, v] of [["accepted", s.accepted], ["errors", s.errors], ["handshakes/s", rate.toFixed(1)],
                        ["requests", s.requests], ["refused", s.refused], ["handshakes", s.handshakes],
                        ["hello bytes (mean)", s.hello_bytes.count ? Math.round(s.hello_bytes.sum / s.hello_bytes.count) : 0],
                        ["hello reads (mean)", s.hello_reads.count ? (s.hello_reads.sum / s.hello_reads.count).toFixed(2) : 0]]) {
    const d = document.createElement("div"); d.className = "counter";
    const b = document.createElement("b"); b.textContent = v; d.append(b, k); c.appendChild(d);
  }
  fill($("steps"), ["Step", "Decisions"], Object.entries(s.decisions_by_step).map(([k, v]) => (row) => { cell(row, k); cell(row, v); }));
  fill($("results"), ["Result", "Connections"], Object.entries(s.results).map(([k, v]) => (row) => { cell(row, k); cell(row, v); }));
  fill($("hits"), ["Record", "Hits"], Object.entries(s.record_hits).concat(s.record_hits_other ? [["(other records)", s.record_hits_other]] : []).map(([k, v]) => (row) => { cell(row, k); cell(row, v); }));
}
$("explain-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(e.target)) if (v !== "") q.set(k, v);
  const d = await (await fetch("/api/explain?" + q)).json();
  if (d.error) { $("explain-outcome").textContent = d.error; $("explain-trace").replaceChildren(); return; }
  $("explain-outcome").textContent = `${d.outcome}: ${d.record || "no record"}` +
    (d.certhash ? ` — certificate ${d.certhash}` : "") + (d.ccs_file ? ` — ${d.ccs_file}` : "");
  fill($("explain-trace"), ["Rule", "Step", "Key", "Result", "Why"], d.trace.map((t) => (row) => {
    cell(row, t.rule); cell(row, t.step); cell(row, t.key); cell(row, t.result, t.result === "hit" ? "ok" : ""); cell(row, t.why); }));
});
$("netsh-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const r = await fetch("/api/netsh", { method: "POST", headers: { "Authorization": "Bearer " + f.get("token"),
    "Content-Type": "application/json" }, body: JSON.stringify({ command: f.get("command") }) });
  const d = await r.json();
  $("netsh-output").textContent = d.error ? d.error : d.output;
  await loadRecords();
});
for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => {
    for (const x of document.querySelectorAll("nav button, section")) x.classList.remove("active");
    b.classList.add("active"); $(b.dataset.view).classList.add("active");
  });
}
loadRecords(); loadStats();
setInterval(loadStats, 2000); setInterval(loadRecords, 5000);
</script>
</body>
</html>
)html";

// The menus list the names the API accepts, from the core's one list of each setting.
template <typename E, std::size_t N>
std::string options(const SettingNames<E, N>& names) {
    std::string out;
    for (const auto& [value, name] : names.entries)
        out += "<option>" + std::string(name) + "</option>";
    return out;
}

void replace(std::string& page, std::string_view placeholder, const std::string& text) {
    page.replace(page.find(placeholder), placeholder.size(), text);
}

}  // namespace

const std::string& console_page() {
    static const std::string page = [] {
        std::string p(kPage);
        replace(p, "@PROFILE_OPTIONS@", options(kProfileNames));
        replace(p, "@PRECEDENCE_OPTIONS@", options(kPrecedenceNames));
        return p;
    }();
    return page;
}

}  // namespace snibind::admin
