// Live view tiles (templates/live.html): each tile plays its camera
// through the station (WHEP-like API, docs/api.md "Live view") while it
// is on screen and the page is visible, and closes its session when not.
// The substream by default; the main stream on demand. The session is
// renewed while watched; the bytes the gateway sent are shown.

const grid = document.getElementById("tiles");
const RENEW_MS = 60000; // unless the station says (X-Live-Renew, seconds)
const STATS_MS = 15000;
const PLAY_STATS_MS = 3000; // a playback's position is read more often
const params = new URLSearchParams(location.search);
const forceRelay = params.get("relay") === "1";

let iceCache = null;
async function iceServers() {
  if (iceCache && iceCache.until > Date.now()) return iceCache.servers;
  const r = await fetch("/api/live/ice-servers", { credentials: "same-origin" });
  if (!r.ok) throw new Error("ice-servers: " + r.status);
  const j = await r.json();
  // Use them for half their life: a session started later still has time.
  iceCache = { servers: j.ice_servers, until: Date.now() + (j.ttl_seconds * 1000) / 2 };
  return j.ice_servers;
}

// A datetime-local value is Vietnam time (UTC+7, no daylight saving):
// "2026-12-02T10:00" or "…:05" → RFC 3339 with +07:00.
function vnToISO(v) {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v)) return "";
  return (v.length === 16 ? v + ":00" : v) + "+07:00";
}

// An RFC 3339 time as Vietnam time, "2026-12-02 10:00:05", and as a
// datetime-local value.
function isoToVN(iso) {
  const ms = Date.parse(iso);
  if (isNaN(ms)) return "";
  return new Date(ms + 7 * 3600 * 1000).toISOString().slice(0, 19).replace("T", " ");
}

const END_KEYS = {
  "playback reached the end of the asked range": "endRange",
  "playback reached the end of the recordings": "endRecordings",
};

function fmtBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + " MiB";
  return (n / (1 << 30)).toFixed(2) + " GiB";
}

class Tile {
  constructor(el) {
    this.el = el;
    this.video = el.querySelector("video");
    this.quality = grid.dataset.quality || "low";
    this.visible = false;
    this.wanted = true; // the officer has not stopped it
    this.gen = 0;
    this.mode = "live"; // or "play": a recording of this.range
    this.range = null;
    this.pb = {
      from: el.querySelector(".pb-from"), to: el.querySelector(".pb-to"), speed: el.querySelector(".pb-speed"),
      at: el.querySelector(".pb-at"), seek: el.querySelector(".pb-seek"),
    };
    el.querySelector(".play").addEventListener("click", () => {
      this.wanted = !this.wanted;
      this.update();
    });
    el.querySelector(".pb-play").addEventListener("click", () => this.playback());
    el.querySelector(".pb-live").addEventListener("click", () => {
      this.mode = "live";
      this.range = null;
      delete el.dataset.mode;
      this.restart();
    });
    this.pb.seek.addEventListener("click", () => this.seek());
    // From an event row (/live?…&at=T): the range is filled in; play it.
    if (grid.dataset.playFrom && this.pb.from.value) this.playback();
    el.querySelector(".switch").addEventListener("click", () => {
      this.quality = this.quality === "low" ? "high" : "low";
      if (this.session) {
        this.stop();
        this.update();
      } else {
        this.showQuality();
      }
    });
    this.showQuality();
  }

  base() {
    return "/api/gateways/" + encodeURIComponent(this.el.dataset.gateway) + "/cameras/" + encodeURIComponent(this.el.dataset.camera) + "/live";
  }

  setState(s, detail) {
    this.el.dataset.state = s;
    this.el.querySelector(".state").textContent = (grid.dataset[s] || s) + (detail ? ": " + detail : "");
  }

  showQuality() {
    const q = this.mode === "play" ? grid.dataset.recording + " " + this.range.speed + "×" : grid.dataset[this.quality];
    this.el.querySelector(".quality").textContent = "· " + q;
    // The switch is pressed while the tile shows the main stream.
    this.el.querySelector(".switch").setAttribute("aria-pressed", String(this.quality === "high"));
  }

  showPosition(iso) {
    const el = this.el.querySelector(".position");
    const t = iso ? isoToVN(iso) : "";
    if (!t) { el.textContent = ""; delete this.el.dataset.position; return; }
    this.el.dataset.position = iso;
    el.textContent = "· " + grid.dataset.position + ": " + t;
    if (!this.pb.at.value) this.pb.at.value = t.replace(" ", "T");
  }

  restart() {
    if (this.pc) this.stop();
    this.wanted = true;
    this.update();
  }

  // playback starts the range the officer chose (Vietnam time).
  playback() {
    const from = vnToISO(this.pb.from.value), to = vnToISO(this.pb.to.value);
    if (!from || !to) {
      this.setState("failed", grid.dataset.needRange);
      return;
    }
    this.mode = "play";
    this.range = { from, to, speed: this.pb.speed.value || "1" };
    this.el.dataset.mode = "play";
    this.restart();
  }

  async seek() {
    const t = vnToISO(this.pb.at.value);
    if (!this.session || this.mode !== "play" || !t) return;
    const r = await fetch(this.session + "/seek", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ time: t }), credentials: "same-origin",
    }).catch(() => null);
    if (!r) return;
    let j = {};
    try { j = await r.json(); } catch (_) { /* not JSON */ }
    if (r.ok) {
      this.el.dataset.seeked = j.time;
      this.showPosition(j.time);
    } else {
      this.el.querySelector(".position").textContent = "· " + (j.message || j.error || r.status);
    }
  }

  showBytes(n) {
    this.el.dataset.bytes = String(n);
    this.el.querySelector(".bytes").textContent = "· " + grid.dataset.bytes + ": " + fmtBytes(n);
  }

  // update starts or stops the tile as visibility and the officer want.
  update() {
    const should = this.wanted && this.visible && document.visibilityState === "visible";
    if (should && !this.pc) this.start();
    else if (!should && this.pc) this.stop();
  }

  async start() {
    const gen = ++this.gen;
    this.setState("connecting");
    this.showQuality();
    let pc;
    try {
      const servers = await iceServers();
      if (gen !== this.gen) return;
      pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: forceRelay ? "relay" : "all" });
      this.pc = pc;
      this.el._pc = pc; // tests read getStats through it
      this.pending = [];
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.ontrack = (e) => {
        if (this.pc !== pc) return;
        if (!this.video.srcObject) this.video.srcObject = new MediaStream();
        this.video.srcObject.addTrack(e.track);
      };
      pc.onicecandidate = (e) => this.pc === pc && this.trickle(e.candidate ? "a=" + e.candidate.candidate : "a=end-of-candidates", e.candidate);
      pc.onconnectionstatechange = () => {
        if (this.pc !== pc) return; // stopped: closing once the station has closed the session
        if (pc.connectionState === "connected") {
          this.setState(this.mode === "play" ? "replaying" : "playing");
          setTimeout(() => { if (this.pc === pc) this.stats(); }, 2000); // the first figure soon
        }
        if (pc.connectionState === "failed") this.fail("ICE");
      };
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      let url = this.base() + "?quality=" + this.quality;
      if (this.mode === "play") {
        const g = this.range;
        url = this.base() + "?from=" + encodeURIComponent(g.from) + "&to=" + encodeURIComponent(g.to) + "&speed=" + g.speed;
      }
      const r = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer.sdp, credentials: "same-origin",
      });
      if (gen !== this.gen) {
        if (r.status === 201) fetch(r.headers.get("Location"), { method: "DELETE", keepalive: true });
        return;
      }
      if (r.status !== 201) {
        let msg = String(r.status);
        // The station's "message" is in the page's language; "error" is
        // the English for machine clients.
        try { const j = await r.json(); msg = j.message || j.error || msg; } catch (_) { /* not JSON */ }
        this.fail(msg);
        return;
      }
      this.session = r.headers.get("Location");
      this.el.dataset.session = this.session;
      this.pb.seek.disabled = this.mode !== "play";
      if (this.mode === "play") this.showPosition(r.headers.get("X-Live-Position"));
      await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
      const es = new EventSource(this.session + "/candidates");
      this.events = es;
      es.addEventListener("candidate", (e) => {
        const c = JSON.parse(e.data);
        if (!c.candidate) {
          // The gateway has no more: free the connection (a browser opens
          // only six HTTP/1.1 connections to a host, and a grid has more
          // tiles than that). A playback keeps it open: its end and why
          // come on it.
          if (this.mode !== "play") es.close();
          return;
        }
        pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdp_mid || null, sdpMLineIndex: c.sdp_mline_index }).catch(() => {});
      });
      es.addEventListener("end", (e) => {
        if (this.events !== es) return;
        let why = "";
        try { why = JSON.parse(e.data).reason || ""; } catch (_) { /* none */ }
        this.ended(why);
      });
      this.flush();
      // The station says how often, from the session's lifetime.
      const every = Number(r.headers.get("X-Live-Renew")) * 1000;
      this.renewTimer = setInterval(() => this.renew(), every > 0 ? every : RENEW_MS);
      this.statsTimer = setInterval(() => this.stats(), this.mode === "play" ? PLAY_STATS_MS : STATS_MS);
    } catch (err) {
      if (gen === this.gen) this.fail(err.message);
    }
  }

  trickle(line, cand) {
    let frag = "";
    if (cand && cand.sdpMid != null) frag += "a=mid:" + cand.sdpMid + "\r\n";
    frag += line + "\r\n";
    this.pending.push(frag);
    if (this.session) this.flush();
  }

  flush() {
    if (!this.session || !this.pending || this.pending.length === 0) return;
    const body = this.pending.join("");
    this.pending = [];
    fetch(this.session, {
      method: "PATCH", headers: { "Content-Type": "application/trickle-ice-sdpfrag" }, body, credentials: "same-origin",
    }).catch(() => {});
  }

  async renew() {
    if (!this.session) return;
    const r = await fetch(this.session + "/renew", { method: "POST", credentials: "same-origin" }).catch(() => null);
    if (r && r.ok) this.showBytes((await r.json()).bytes || 0);
    else if (r && r.status === 404) { this.stop(); this.setState("ended"); }
  }

  async stats() {
    if (!this.session) return;
    const r = await fetch(this.session, { credentials: "same-origin" }).catch(() => null);
    if (r && r.ok) {
      const j = await r.json();
      this.showBytes(j.bytes || 0);
      if (this.mode === "play" && j.position) this.showPosition(j.position);
    } else if (r && r.status === 404) {
      let why = "";
      try { why = (await r.json()).error || ""; } catch (_) { /* not JSON */ }
      // The station's own 404 (it has ended the session already) has no
      // reason worth showing; the gateway's has.
      this.ended(why.startsWith("no such live view") ? "" : why.replace(/^.*ended at the gateway: /, ""));
    }
  }

  // ended shows why the session ended (a playback's end in the page's
  // language).
  ended(why) {
    if (!this.session && this.el.dataset.state === "ended") return;
    const pos = this.el.querySelector(".position").textContent;
    this.stop();
    this.el.querySelector(".position").textContent = pos;
    const key = END_KEYS[why];
    this.el.dataset.endReason = why;
    this.setState("ended", key ? grid.dataset[key] : why);
  }

  fail(msg) {
    this.stop();
    this.setState("failed", msg);
  }

  stop() {
    this.gen++;
    clearInterval(this.renewTimer);
    clearInterval(this.statsTimer);
    if (this.events) this.events.close();
    const pc = this.pc;
    const done = () => { if (pc) pc.close(); };
    if (this.session) {
      // Close the connection only once the station has closed the session
      // (or after 3 s): the gateway ends a session whose connection closes,
      // and its last byte count would be lost with it.
      const timer = setTimeout(done, 3000);
      fetch(this.session, { method: "DELETE", keepalive: true, credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null)).then((j) => { if (j) this.showBytes(j.bytes || 0); })
        .catch(() => {}).finally(() => { clearTimeout(timer); done(); });
    } else {
      done();
    }
    this.pc = null;
    this.events = null;
    this.session = null;
    delete this.el.dataset.session;
    this.pb.seek.disabled = true;
    this.showPosition("");
    this.video.srcObject = null;
    this.setState("stopped");
  }
}

if (grid) {
  const tiles = [...grid.querySelectorAll(".tile")].map((el) => new Tile(el));
  // A tile plays while a quarter of its picture is on screen (the
  // picture, not the tile: an open playback panel makes the tile tall).
  const byEl = new Map(tiles.map((t) => [t.video, t]));
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const t = byEl.get(e.target);
      t.visible = e.isIntersecting;
      t.update();
    }
  }, { threshold: 0.25 });
  tiles.forEach((t) => io.observe(t.video));
  document.addEventListener("visibilitychange", () => tiles.forEach((t) => t.update()));
  window.addEventListener("pagehide", () => tiles.forEach((t) => { if (t.pc) t.stop(); }));
}
