// Applies the theme chosen in the header (light, dark or the system's)
// before the page is drawn; app.js keeps the choice in localStorage.
"use strict";
try {
  const t = localStorage.getItem("theme");
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
} catch (e) { /* storage disabled: the system's theme */ }
