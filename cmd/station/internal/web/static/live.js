// Live view tiles (templates/live.html): each tile plays its camera
// through the station (WHEP-like API, docs/api.md "Live view") while it
// is on screen and the page is visible, and closes its session when not.
// The substream by default; the main stream on demand. The session is
// renewed while watched; the bytes the gateway sent are shown.

const grid = document.getElementById("tiles");
const RENEW_MS = 60000;
const STATS_MS = 15000;
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
    el.querySelector(".play").addEventListener("click", () => {
      this.wanted = !this.wanted;
      this.update();
    });
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
    this.el.querySelector(".quality").textContent = "· " + grid.dataset[this.quality];
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
          this.setState("playing");
          setTimeout(() => { if (this.pc === pc) this.stats(); }, 2000); // the first figure soon
        }
        if (pc.connectionState === "failed") this.fail("ICE");
      };
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const r = await fetch(this.base() + "?quality=" + this.quality, {
        method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer.sdp, credentials: "same-origin",
      });
      if (gen !== this.gen) {
        if (r.status === 201) fetch(r.headers.get("Location"), { method: "DELETE", keepalive: true });
        return;
      }
      if (r.status !== 201) {
        let msg = String(r.status);
        try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
        this.fail(msg);
        return;
      }
      this.session = r.headers.get("Location");
      this.el.dataset.session = this.session;
      await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
      const es = new EventSource(this.session + "/candidates");
      this.events = es;
      es.addEventListener("candidate", (e) => {
        const c = JSON.parse(e.data);
        if (!c.candidate) {
          // The gateway has no more: free the connection (a browser opens
          // only six HTTP/1.1 connections to a host, and a grid has more
          // tiles than that).
          es.close();
          return;
        }
        pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdp_mid || null, sdpMLineIndex: c.sdp_mline_index }).catch(() => {});
      });
      es.addEventListener("end", () => {
        if (this.events !== es) return;
        this.stop();
        this.setState("ended");
      });
      this.flush();
      this.renewTimer = setInterval(() => this.renew(), RENEW_MS);
      this.statsTimer = setInterval(() => this.stats(), STATS_MS);
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
    if (r && r.ok) this.showBytes((await r.json()).bytes || 0);
    else if (r && r.status === 404) { this.stop(); this.setState("ended"); }
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
    this.video.srcObject = null;
    this.setState("stopped");
  }
}

if (grid) {
  const tiles = [...grid.querySelectorAll(".tile")].map((el) => new Tile(el));
  const byEl = new Map(tiles.map((t) => [t.el, t]));
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const t = byEl.get(e.target);
      t.visible = e.isIntersecting;
      t.update();
    }
  }, { threshold: 0.25 });
  tiles.forEach((t) => io.observe(t.el));
  document.addEventListener("visibilitychange", () => tiles.forEach((t) => t.update()));
  window.addEventListener("pagehide", () => tiles.forEach((t) => { if (t.pc) t.stop(); }));
}
