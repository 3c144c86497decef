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
