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
// Everything is inserted as text, never as markup.
const rows = document.getElementById("feed-rows");
const live = document.getElementById("live");
const alarms = document.getElementById("alarms");
let audio = null;
function tone() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = "square";
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.2, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.6);
    document.body.dataset.alarmSound = String(Number(document.body.dataset.alarmSound || 0) + 1);
  } catch (e) { /* no audio on this device */ }
}
function cell(tr, text, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (label) td.dataset.label = label;
  tr.appendChild(td);
  return td;
}
if (rows && rows.dataset.feed === "on" && window.EventSource) {
  if (window.Notification && Notification.permission === "default") {
    document.addEventListener("click", () => Notification.requestPermission(), { once: true });
  }
  const es = new EventSource("/api/feed");
  es.addEventListener("open", () => { live.hidden = false; live.textContent = live.dataset.on; });
  es.addEventListener("error", () => { live.hidden = false; live.textContent = live.dataset.off; });
  es.addEventListener("logout", () => { es.close(); window.location.assign("/login"); });
  es.addEventListener("item", (m) => {
    const it = JSON.parse(m.data);
    if (document.getElementById("ev-" + it.arrival)) return;
    const tr = document.createElement("tr");
    tr.id = "ev-" + it.arrival;
    const ev = it.event;
    tr.className = (ev ? "event kind-" + ev.kind : "notice") + (it.alarm ? " is-alarm" : "") + " new";
    cell(tr, new Date(ev ? ev.time : it.stored).toLocaleString());
    cell(tr, it.name);
    if (ev) {
      cell(tr, ev.kind); cell(tr, ev.source || ""); cell(tr, ev.state || "");
      cell(tr, Object.entries(ev.attrs || {}).map(([k, v]) => k + ": " + v).join(" "));
      const td = cell(tr, "");
      if (it.snapshot) {
        const img = document.createElement("img");
        img.className = "thumb"; img.width = 160; img.height = 90; img.alt = "";
        img.src = "/api/events/" + it.gateway + "/" + (it.epoch || "-") + "/" + ev.seq + "/snapshot";
        td.appendChild(img);
      }
    } else {
      cell(tr, it.gap ? "gap " + it.gap.first + "–" + it.gap.last : (it.notice ? it.notice.kind : "")).colSpan = 6;
    }
    rows.prepend(tr);
    if (it.alarm && alarms) {
      const li = document.createElement("li");
      li.className = "alarm new";
      li.id = "al-a" + it.arrival;
      li.textContent = it.name + " — " + (ev ? ev.kind + " " + (ev.source || "") : tr.textContent);
      document.getElementById("alarm-list").prepend(li);
      const n = document.getElementById("alarm-count");
      n.textContent = String(Number(n.textContent) + 1);
      tone();
      if (window.Notification && Notification.permission === "granted") {
        new Notification(alarms.dataset.new, { body: li.textContent, tag: li.id });
      }
    }
  });
}
