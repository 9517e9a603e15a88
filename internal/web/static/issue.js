// The issue page's progressive additions: its copy buttons show once a
// script can run them (app.js copies data-copy), "Copy link" copies the
// page's address, and the breadcrumb filters apply as they change
// (without a script, the form's Filter button reloads the page with
// crumbCategory and crumbLevel).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".issue button.copy[hidden]")) {
    if (navigator.clipboard) b.hidden = false;
  }
  for (const b of document.querySelectorAll("button[data-copy-link]")) {
    b.addEventListener("click", () => {
      navigator.clipboard.writeText(location.href).then(() => {
        b.classList.add("copied");
        setTimeout(() => b.classList.remove("copied"), 1500);
      });
    });
  }
  crumbFilter();
});

function crumbFilter() {
  const form = document.getElementById("crumb-filter");
  if (!form) return;
  const cat = document.getElementById("crumb-category");
  const lvl = document.getElementById("crumb-level");
  const count = document.getElementById("crumb-count");
  const rows = Array.from(document.querySelectorAll("#breadcrumbs tr.crumb"));
  const total = count ? Number(count.textContent.split(" of ")[1]) : rows.length;
  // The server filtered already (the page was loaded with filters): only
  // it has the other rows, so a change reloads.
  if (rows.length !== total) {
    for (const s of [cat, lvl]) s.addEventListener("change", () => form.requestSubmit());
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  if (button) button.hidden = true;
  const apply = () => {
    let shown = 0;
    for (const r of rows) {
      const ok = (!cat.value || r.dataset.category === cat.value) && (!lvl.value || r.dataset.level === lvl.value);
      r.hidden = !ok;
      if (ok) shown++;
    }
    if (count) count.textContent = shown + " of " + total;
    // The address keeps the filters, so a reload or a shared link shows
    // the same breadcrumbs.
    const u = new URL(location.href);
    for (const [k, s] of [["crumbCategory", cat], ["crumbLevel", lvl]]) {
      if (s.value) u.searchParams.set(k, s.value); else u.searchParams.delete(k);
    }
    history.replaceState(null, "", u);
  };
  for (const s of [cat, lvl]) s.addEventListener("change", apply);
}
