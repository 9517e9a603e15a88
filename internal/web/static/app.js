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
});
