// A "Print" button (no inline handlers: the Content-Security-Policy allows no inline script).
(function () {
  const button = document.getElementById("print");
  if (button) button.addEventListener("click", () => window.print());
})();
