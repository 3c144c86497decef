// The console's only script, a plain module: pages work without it; it
// adds a confirmation before destructive forms (data-confirm).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
}

// The live feed (/api/feed, Server-Sent Events): new items are added at
// the top of the events table; EventSource reconnects by itself and sends
// Last-Event-ID, so nothing is lost. A new alarm plays a short tone made
// here with WebAudio (no file is fetched) and shows a notification.
// The station sends each row already rendered in the page's language
// (item.show: labels, time in Asia/Ho_Chi_Minh, the clock flag); this
// script only inserts those strings, as text, never as markup.
const rows = document.getElementById("feed-rows");
const live = document.getElementById("live");
const alarms = document.getElementById("alarms");
const alarmList = document.getElementById("alarm-list");
// A browser lets a page sound only after the officer has clicked or
// pressed a key on it (its autoplay policy): the audio starts on the first
// click or key anywhere, or on the "turn on the alarm sound" button shown
// until it runs, which also asks to show notifications. body's
// data-alarm-audio is the audio's state (running: an alarm sounds).
let audio = null;
let soundButton = null;
function audioOn() {
  try {
    audio = audio || new AudioContext();
  } catch (e) { return Promise.resolve(); /* no audio on this device */ }
  audio.onstatechange = showSound;
  return audio.state === "running" ? Promise.resolve() : audio.resume().catch(() => {});
}
function showSound() {
  document.body.dataset.alarmAudio = audio ? audio.state : "none";
  if (soundButton) {
    const ask = window.Notification && Notification.permission === "default";
    soundButton.hidden = !!audio && audio.state === "running" && !ask;
  }
}
function soundOn() {
  audioOn().then(showSound);
  if (window.Notification && Notification.permission === "default") Notification.requestPermission().then(showSound, () => {});
}
function tone() {
  audioOn().then(() => {
    showSound();
    if (!audio || audio.state !== "running") return;
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = "square";
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.2, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.6);
    document.body.dataset.alarmSound = String(Number(document.body.dataset.alarmSound || 0) + 1);
  });
}
function el(name, props, text) {
  const e = document.createElement(name);
  Object.assign(e, props || {});
  if (text !== undefined) e.textContent = text;
  return e;
}
// timeEl is <time datetime=iso>text</time>, as the templates print times.
function timeEl(text, isoTime) {
  const t = el("time", {}, text);
  t.setAttribute("datetime", isoTime);
  return t;
}
// The column headings label the cells on a phone (data-label), as the
// server-rendered rows are labelled.
const labels = [...document.querySelectorAll("#events-table thead th")].map((th) => th.textContent);
function cell(tr, i, ...kids) {
  const td = el("td");
  if (labels[i]) td.dataset.label = labels[i];
  for (const k of kids) td.append(k);
  tr.appendChild(td);
  return td;
}
function row(it) {
  const s = it.show || {};
  const ev = it.event;
  const tr = el("tr", { id: "ev-" + it.arrival });
  if (s.ref) tr.dataset.ref = s.ref;
  // A gateway's kind is not validated: only a plain word becomes a class.
  const kc = ev && /^[a-z0-9_]{1,40}$/.test(ev.kind) ? "kind-" + ev.kind : "kind-other";
  tr.className = (ev ? "event " + kc : "notice") + (it.alarm ? " is-alarm" : "") + " new";
  const when = cell(tr, 0, timeEl(s.time, s.iso));
  if (!ev) {
    const td = el("td", { colSpan: 6 }, s.text);
    tr.appendChild(td);
    return tr;
  }
  if (s.unsynced) when.append(" ", el("span", { className: "warn" }, s.unsynced));
  cell(tr, 1, it.name);
  const kind = cell(tr, 2, s.kind);
  if (s.test) kind.append(" ", el("span", { className: "badge test" }, s.test));
  cell(tr, 3, ev.source || "");
  cell(tr, 4, s.state || "");
  const attrs = cell(tr, 5);
  for (const a of s.attrs || []) attrs.append(el("span", { className: "attr" }, a), " ");
  const snap = cell(tr, 6);
  if (s.snapshot) snap.append(thumb(s.snapshot));
  if (rows.dataset.officer === "on") liveLinks(snap, it.gateway, ev.attrs, s.iso);
  return tr;
}
// liveLinks adds an officer's links to the live view of the event's
// camera (its snapshot_camera; the gateway's first camera without one)
// and, with a camera, to the playback of its recording from the event's
// time: the links events.html prints for server-rendered rows.
function liveLinks(td, gateway, attrs, isoTime) {
  const cam = attrs && typeof attrs.snapshot_camera === "string" ? attrs.snapshot_camera : "";
  const q = new URLSearchParams({ gateway });
  if (cam) q.set("camera", cam);
  td.append(" ", el("a", { className: "button live-link", href: "/live?" + q }, rows.dataset.liveopen));
  if (!cam) return;
  q.set("at", isoTime);
  td.append(" ", el("a", { className: "button secondary replay-link", href: "/live?" + q }, rows.dataset.playback));
}
// thumb is a snapshot's thumbnail linking to the full picture.
function thumb(url) {
  const a = el("a", { href: url });
  a.append(el("img", { src: url, alt: labels[6] || "", className: "thumb", loading: "lazy", width: 160, height: 90 }));
  return a;
}
function alarmCount(delta) {
  const n = document.getElementById("alarm-count");
  const left = Math.max(0, Number(n.textContent) + delta);
  n.textContent = String(left);
  document.getElementById("alarm-none").hidden = left > 0;
  const fields = document.getElementById("ack-fields");
  if (fields) fields.hidden = left === 0;
}
// alarmItem is one line of the alarms to review, as the page renders it:
// with its checkbox for an officer.
function alarmItem(key, when, isoTime, name, text) {
  const li = el("li", { className: "alarm new", id: "al-" + key });
  li.dataset.added = String(Date.now());
  if (alarms.dataset.officer === "on") {
    const label = el("label", { className: "pick" });
    const box = el("input", { type: "checkbox", name: "key", value: key });
    box.setAttribute("aria-label", alarms.dataset.pick);
    label.append(box, " ");
    li.append(label);
  }
  li.append(timeEl(when, isoTime), " ", el("strong", {}, name), " ", el("span", { className: "what" }, text));
  return li;
}
// raise pins a new alarm at the top of the list, with the tone and a
// notification.
function raise(li, body) {
  alarmList.prepend(li);
  alarmCount(+1);
  tone();
  if (window.Notification && Notification.permission === "granted") {
    new Notification(alarms.dataset.new, { body, tag: li.id });
  }
}
// syncAlarms reads the alarms to review (GET /api/alarms) every few
// seconds: a gateway offline beyond the grace is an alarm no feed item
// brings, and alarms acknowledged elsewhere leave the list.
async function syncAlarms() {
  const asked = Date.now();
  let list;
  try {
    const r = await fetch("/api/alarms", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) return;
    list = (await r.json()).alarms || [];
  } catch (e) { return; }
  const keys = new Set(list.map((a) => a.key));
  for (const li of [...alarmList.children]) {
    const key = li.id.slice(3);
    if (!keys.has(key) && Number(li.dataset.added || 0) < asked) { li.remove(); alarmCount(-1); }
  }
  for (const a of list.slice().reverse()) {
    if (!document.getElementById("al-" + a.key)) raise(alarmItem(a.key, a.when, a.raised, a.name, a.text), a.name + " — " + a.text);
  }
}
if (rows && rows.dataset.feed === "on" && window.EventSource) {
  if (alarms) {
    soundButton = el("button", { type: "button", className: "big secondary sound-on", id: "sound-on" }, alarms.dataset.sound);
    soundButton.addEventListener("click", soundOn);
    alarms.querySelector("h2").after(soundButton);
    audioOn().then(showSound);
  }
  document.addEventListener("click", soundOn, { once: true });
  document.addEventListener("keydown", soundOn, { once: true });
  // The feed of the page's filters (data-src): it sends only the rows
  // they show, and, as "alarm", an alarm they do not show, to pin.
  const es = new EventSource(rows.dataset.src || "/api/feed");
  es.addEventListener("open", () => { live.hidden = false; live.textContent = live.dataset.live; });
  es.addEventListener("error", () => { live.hidden = false; live.textContent = live.dataset.lost; });
  es.addEventListener("logout", () => { es.close(); window.location.assign("/login"); });
  // A snapshot committed after its event: into the event's row.
  es.addEventListener("snapshot", (m) => {
    const sn = JSON.parse(m.data);
    for (const tr of rows.querySelectorAll("tr[data-ref]")) {
      if (tr.dataset.ref !== sn.ref) continue;
      const td = tr.cells[6];
      if (td && !td.querySelector("img")) td.prepend(thumb(sn.url)); // before the live links
    }
  });
  const pin = (it) => {
    const s = it.show;
    if (it.alarm && alarms && s && s.alarm_key && !document.getElementById("al-" + s.alarm_key)) {
      raise(alarmItem(s.alarm_key, s.alarm_time, s.alarm_iso, it.name, s.alarm_text), it.name + " — " + s.alarm_text);
    }
  };
  es.addEventListener("alarm", (m) => pin(JSON.parse(m.data)));
  es.addEventListener("item", (m) => {
    const it = JSON.parse(m.data);
    if (document.getElementById("ev-" + it.arrival)) return;
    rows.prepend(row(it));
    document.getElementById("events-table").hidden = false;
    document.getElementById("events-none").hidden = true;
    pin(it);
  });
  if (alarms && window.fetch) setInterval(syncAlarms, Number(alarms.dataset.poll || 5000));
}

// Acknowledging in place: the form posts to /api/alarms/ack with fetch
// (after its confirmation) and the acknowledged alarms leave the list; the
// form still posts and reloads the page where there is no script.
const ackForm = document.getElementById("ack-form");
const ackResult = document.getElementById("ack-result");
function ackSay(text, failed) {
  ackResult.hidden = false;
  ackResult.className = "ack-result " + (failed ? "error" : "done");
  ackResult.textContent = text;
}
if (ackForm && window.fetch) {
  ackForm.addEventListener("submit", async (e) => {
    if (e.defaultPrevented) return; // the confirmation was declined
    e.preventDefault();
    const keys = [...ackForm.querySelectorAll('input[name="key"]:checked')].map((i) => i.value);
    if (keys.length === 0) { ackSay(alarms.dataset.pickone, true); return; }
    const button = ackForm.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const r = await fetch("/api/alarms/ack", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ keys, outcome: ackForm.elements.outcome.value, note: ackForm.elements.note.value }),
      });
      if (r.status === 401) { window.location.assign("/login?next=/events"); return; }
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.error || String(r.status));
      for (const k of keys) {
        const li = document.getElementById("al-" + k);
        if (li) { li.remove(); alarmCount(-1); }
      }
      ackForm.elements.note.value = "";
      ackSay(alarms.dataset.acked.replace("%d", String(keys.length)), false);
    } catch (err) {
      ackSay(alarms.dataset.ackfail + " " + err.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

// Dates of the events filter as dd/mm/yyyy on the Vietnamese page: a date
// input shows the browser's locale (mm/dd/yyyy in an English Chromium), so
// each input[data-dmy] becomes a text input in that format, its label
// saying so, and a hidden input carries the date the server reads
// (yyyy-mm-dd). Without the script the date input stays and still works.
function pad2(n) { return String(n).padStart(2, "0"); }
function dmyInput(input) {
  const hidden = el("input", { type: "hidden", name: input.name, value: input.value });
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.value);
  input.removeAttribute("name");
  input.type = "text";
  input.inputMode = "numeric";
  input.autocomplete = "off";
  input.pattern = "\\d{1,2}/\\d{1,2}/\\d{4}";
  input.placeholder = input.dataset.dmy;
  input.value = iso ? iso[3] + "/" + iso[2] + "/" + iso[1] : input.value;
  input.after(hidden);
  const label = document.querySelector('label[for="' + input.id + '"]');
  if (label) label.append(" (" + input.dataset.dmy + ")");
  const sync = () => {
    const v = input.value.trim();
    const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(v);
    let ok = v === "";
    hidden.value = "";
    if (m) {
      const d = Number(m[1]), mo = Number(m[2]), y = Number(m[3]);
      const t = new Date(Date.UTC(y, mo - 1, d));
      ok = t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
      if (ok) hidden.value = y + "-" + pad2(mo) + "-" + pad2(d);
    }
    input.setCustomValidity(ok ? "" : input.dataset.dmyBad);
  };
  input.addEventListener("input", sync);
  sync();
}
if (document.documentElement.lang === "vi") {
  for (const input of document.querySelectorAll('input[type="date"][data-dmy]')) dmyInput(input);
}
