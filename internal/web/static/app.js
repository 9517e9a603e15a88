// Faultline's script: small and progressive. Every page works without it;
// it only adds conveniences. The Content-Security-Policy allows scripts
// from this origin only, so nothing runs inline.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="text"> copies its text to the clipboard.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", () => {
      navigator.clipboard.writeText(b.dataset.copy).then(() => {
        b.classList.add("copied");
        setTimeout(() => b.classList.remove("copied"), 1500);
      });
    });
  }
  themeSwitch();
  issueList();
});

// The header's theme switch: system, light or dark, kept in localStorage
// (theme.js applies it before the page is drawn).
function themeSwitch() {
  const sel = document.getElementById("theme-select");
  if (!sel) return;
  let t = "system";
  try { t = localStorage.getItem("theme") || "system"; } catch (e) { /* disabled */ }
  sel.value = t;
  sel.closest("label").hidden = false;
  sel.addEventListener("change", () => {
    const v = sel.value;
    try {
      if (v === "system") localStorage.removeItem("theme"); else localStorage.setItem("theme", v);
    } catch (e) { /* the choice lasts for this page only */ }
    if (v === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = v;
  });
}

// The issue list's keyboard shortcuts: j/k move, o or Enter open, x
// select, r resolve, i ignore, / search, ? help.
function issueList() {
  const form = document.getElementById("bulk");
  if (!form) return;
  const rows = () => Array.from(form.querySelectorAll("tr.issue"));
  const all = document.getElementById("select-all");
  if (all) {
    all.hidden = false;
    all.addEventListener("change", () => {
      for (const c of form.querySelectorAll('input[name="id"]')) c.checked = all.checked;
    });
  }
  let cur = -1;
  const move = (i) => {
    const rs = rows();
    if (rs.length === 0) return;
    cur = Math.max(0, Math.min(rs.length - 1, i));
    for (const r of rs) r.classList.remove("current");
    rs[cur].classList.add("current");
    rs[cur].querySelector("a.title").focus({ preventScroll: true });
    rs[cur].scrollIntoView({ block: "nearest" });
  };
  const act = (action) => {
    const rs = rows();
    if (!form.querySelector('input[name="id"]:checked') && rs[cur]) {
      rs[cur].querySelector('input[name="id"]').checked = true;
    }
    if (!form.querySelector('input[name="id"]:checked')) return;
    form.requestSubmit(form.querySelector('button[value="' + action + '"]'));
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      if (e.key === "Escape") t.blur();
      return;
    }
    // Enter on a link or a button does what it does; on the page, it opens.
    if (e.key === "Enter" && t !== document.body) return;
    const rs = rows();
    switch (e.key) {
      case "j": move(cur + 1); break;
      case "k": move(cur < 0 ? 0 : cur - 1); break;
      case "o": case "Enter":
        if (!rs[cur]) return;
        window.location.href = rs[cur].querySelector("a.title").href;
        break;
      case "x":
        if (!rs[cur]) return;
        { const c = rs[cur].querySelector('input[name="id"]'); c.checked = !c.checked; }
        break;
      case "r": act("resolve"); break;
      case "i": act("ignore"); break;
      case "/": { const s = document.getElementById("search"); if (s) s.focus(); } break;
      case "?": { const d = document.getElementById("shortcuts"); if (d) d.open = !d.open; } break;
      default: return;
    }
    e.preventDefault();
  });
  // A click on a row makes it the current one.
  form.addEventListener("click", (e) => {
    const tr = e.target instanceof Element ? e.target.closest("tr.issue") : null;
    if (tr) { cur = rows().indexOf(tr); for (const r of rows()) r.classList.toggle("current", r === tr); }
  });
}
