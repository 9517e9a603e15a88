// The issue page's progressive additions: its copy buttons show once a
// script can run them (app.js copies data-copy), and "Copy link" copies
// the page's address.
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
});
