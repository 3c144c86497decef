// Clips and case export on the events page. For each event row naming a
// clip (its "clip: ID" detail) it shows the clip's state at the station
// (missing, partial, complete), a button that plays a complete clip in a
// <video> in the row, and for an officer a button that asks the gateway
// for the bytes the station lacks. An officer can also tick events and
// export them as one signed case file (zip). Strings come from the page
// (#clips data-*), in its language; nothing here builds markup from text.
const box = document.getElementById("clips");
const rows = document.getElementById("feed-rows");
if (box && rows) {
  const s = box.dataset;
  const officer = s.officer === "on";
  const picked = new Set();
  const el = (name, props, text) => {
    const e = document.createElement(name);
    Object.assign(e, props || {});
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const stateText = (st) => ({ missing: s.missing, partial: s.partial, complete: s.complete }[st] || st);

  async function status(gw, clip) {
    const r = await fetch(`/api/clips/${encodeURIComponent(gw)}/${encodeURIComponent(clip)}/status`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(String(r.status));
    return r.json();
  }

  function render(widget, gw, clip, st) {
    widget.replaceChildren();
    const label = el("span", { className: "clip-state state-" + st.state }, stateText(st.state));
    if (st.state === "partial" && st.bytes) label.textContent += ` (${Math.floor((100 * st.have) / st.bytes)} %)`;
    widget.append(label, " ");
    if (st.state === "complete") {
      const play = el("button", { type: "button", className: "clip-play" }, s.play);
      play.addEventListener("click", () => {
        const v = el("video", { controls: true, preload: "metadata", src: st.url, className: "clip-video" });
        v.setAttribute("aria-label", s.video.replace("%s", clip));
        play.replaceWith(v);
        v.play().catch(() => {});
      });
      widget.append(play);
    } else if (officer) {
      const get = el("button", { type: "button", className: "clip-fetch" }, s.fetch);
      get.addEventListener("click", async () => {
        get.disabled = true;
        get.textContent = s.fetching;
        const r = await fetch(`/api/clips/${encodeURIComponent(gw)}/${encodeURIComponent(clip)}/fetch`, { method: "POST", credentials: "same-origin" });
        const body = await r.json().catch(() => ({}));
        const ok = r.ok && body.result && body.result.ok;
        get.textContent = ok ? s.asked : s.fetchfail + (body.result && body.result.error ? ": " + body.result.error : "");
        if (ok) poll(widget, gw, clip, 40);
      });
      widget.append(get);
    }
  }

  // poll looks at an asked-for clip every 3 s until it is complete.
  function poll(widget, gw, clip, left) {
    setTimeout(async () => {
      try {
        const st = await status(gw, clip);
        if (st.state === "complete" || left <= 0) render(widget, gw, clip, st);
        else { widget.firstChild.textContent = stateText(st.state) + (st.bytes ? ` (${Math.floor((100 * st.have) / st.bytes)} %)` : ""); poll(widget, gw, clip, left - 1); }
      } catch (e) { /* try again on the next click */ }
    }, 3000);
  }

  function attach(tr) {
    if (!tr.matches("tr.event[data-ref]") || tr.dataset.clipDone) return;
    tr.dataset.clipDone = "1";
    const gw = tr.dataset.ref.split("/")[0];
    const cells = tr.querySelectorAll("td");
    const details = cells[5];
    if (officer && details) {
      const label = el("label", { className: "clip-pick" });
      const cb = el("input", { type: "checkbox" });
      cb.setAttribute("aria-label", s.pick);
      cb.addEventListener("change", () => {
        const key = tr.dataset.ref;
        if (cb.checked) picked.add(key); else picked.delete(key);
        count.textContent = String(picked.size);
      });
      label.append(cb, " ", s.pick);
      details.append(label);
    }
    let clip = "";
    for (const a of tr.querySelectorAll("span.attr")) {
      const m = /^clip: ([a-z0-9][a-z0-9._-]{0,79})$/.exec(a.textContent.trim());
      if (m) clip = m[1];
    }
    if (!clip || !details) return;
    const widget = el("span", { className: "clip" });
    details.append(" ", widget);
    status(gw, clip).then((st) => render(widget, gw, clip, st)).catch(() => { widget.textContent = s.missing; });
  }

  // The case export form (officers).
  const count = el("span", { className: "count" }, "0");
  if (officer) {
    const form = el("form", { className: "clip-export" });
    const name = el("input", { id: "case-name", required: true, maxLength: 80 });
    const lab = el("label", { htmlFor: "case-name" }, s.casename);
    const btn = el("button", { type: "submit" }, s.export);
    const out = el("p", { className: "export-result" });
    out.setAttribute("role", "status");
    form.append(lab, " ", name, " ", el("span", {}, s.picked + " "), count, " ", btn, out);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (picked.size === 0) { out.textContent = s.pickone; return; }
      const events = [...picked].map((ref) => {
        const [gateway, ep, q] = ref.split("/");
        return { gateway, epoch: ep === "-" ? "" : ep, seq: Number(q) };
      });
      btn.disabled = true;
      out.textContent = s.exporting;
      try {
        const r = await fetch("/api/exports", { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ case: name.value, events }) });
        if (!r.ok) {
          const b = await r.json().catch(() => ({}));
          out.textContent = s.exportfail + (b.error ? ": " + b.error : "");
          return;
        }
        const blob = await r.blob();
        const a = el("a", { href: URL.createObjectURL(blob), download: "case.zip" }, s.download);
        out.replaceChildren(s.exported + " (SHA-256 " + (r.headers.get("X-Export-SHA256") || "").slice(0, 16) + "…) ", a);
      } finally { btn.disabled = false; }
    });
    box.append(form);
    box.hidden = false;
  }

  for (const tr of rows.querySelectorAll("tr")) attach(tr);
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes) if (n.nodeType === 1) attach(n);
  }).observe(rows, { childList: true });
}

// Fetching a camera's continuous recording over a time range (officers,
// #clip-range): one form per gateway with cameras posts {camera, from, to}
// to /api/clips/{gateway}/fetch and lists the segments the gateway says it
// will send. Times are read as Asia/Ho_Chi_Minh (UTC+7 all year, no
// daylight saving), like every time on the page; on the Vietnamese page the
// fields are dd/mm/yyyy HH:MM text (a datetime-local input shows the
// browser's locale), otherwise the browser's datetime-local.
const range = document.getElementById("clip-range");
if (range) {
  const s = range.dataset;
  const vi = document.documentElement.lang === "vi";
  const two = (n) => String(n).padStart(2, "0");
  const el = (name, props, text) => {
    const e = document.createElement(name);
    Object.assign(e, props || {});
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // wall reads a field as a Vietnam wall-clock time: its RFC 3339 form
  // with +07:00, or "" when it is not a time.
  const wall = (input) => {
    const v = input.value.trim();
    let m, y, mo, d, h, mi;
    if ((m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})\s+(\d{1,2}):(\d{2})$/.exec(v))) [d, mo, y, h, mi] = m.slice(1).map(Number);
    else if ((m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(v))) [y, mo, d, h, mi] = m.slice(1).map(Number);
    else return "";
    const t = new Date(Date.UTC(y, mo - 1, d, h, mi));
    if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59) return "";
    return `${y}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:00+07:00`;
  };
  // shown is an RFC 3339 time as the page shows times (Vietnam time).
  const shown = (iso) => {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return iso || "";
    const t = new Date(ms + 7 * 3600 * 1000);
    const day = vi ? `${two(t.getUTCDate())}/${two(t.getUTCMonth() + 1)}/${t.getUTCFullYear()}`
      : `${t.getUTCFullYear()}-${two(t.getUTCMonth() + 1)}-${two(t.getUTCDate())}`;
    return `${day} ${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())}`;
  };
  const maxMin = Number(s.max || 120);
  for (const form of range.querySelectorAll("form.range-form")) {
    const gw = form.dataset.gateway;
    const out = form.querySelector(".range-result");
    const [from, to] = [form.elements.from, form.elements.to];
    for (const input of [from, to]) {
      if (vi) {
        input.type = "text";
        input.inputMode = "numeric";
        input.autocomplete = "off";
        input.placeholder = s.format;
        const label = form.querySelector(`label[for="${input.id}"]`);
        if (label) label.append(" (" + s.format + ")");
      }
      input.addEventListener("input", () => input.setCustomValidity(wall(input) || input.value.trim() === "" ? "" : s.bad));
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = wall(from), t = wall(to);
      if (!f || !t) { out.textContent = s.bad; return; }
      const minutes = (Date.parse(t) - Date.parse(f)) / 60000;
      if (minutes <= 0) { out.textContent = s.order; return; }
      if (minutes > maxMin) { out.textContent = s.long.replace("%d", String(maxMin)); return; }
      const btn = form.querySelector("button");
      btn.disabled = true;
      out.textContent = s.asking;
      try {
        const r = await fetch(`/api/clips/${encodeURIComponent(gw)}/fetch`, { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ camera: form.elements.camera.value, from: f, to: t }) });
        if (r.status === 401) { window.location.assign("/login?next=/events"); return; }
        const body = await r.json().catch(() => ({}));
        const res = body.result || {};
        if (r.ok && res.ok) {
          let reply = {};
          try { reply = typeof res.reply === "string" ? JSON.parse(res.reply) : (res.reply || {}); } catch (err) { /* shown as none */ }
          const list = Array.isArray(reply.clips) ? reply.clips : [];
          const note = typeof body.note === "string" ? body.note : ""; // the station's: clips it holds, not sent again
          if (list.length === 0) { out.textContent = note || s.none; return; }
          const ul = el("ul", { className: "range-clips" });
          for (const c of list) {
            const secs = Math.round(Number(c.duration_ms || 0) / 1000);
            ul.append(el("li", {}, `${shown(c.start)} · ${secs} s · ${c.clip || ""}`));
          }
          out.replaceChildren(s.coming.replace("%d", String(list.length)), ul);
          if (note) out.append(el("p", {}, note));
        } else if (r.status === 504) out.textContent = s.noreply;
        else if (r.status === 403 || r.status === 404) out.textContent = s.denied;
        else out.textContent = s.fail + ((res.error || body.error) ? ": " + (res.error || body.error) : "");
      } catch (err) {
        out.textContent = s.noreply;
      } finally { btn.disabled = false; }
    });
  }
  range.hidden = false;
}
