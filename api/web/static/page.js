// Behaviour of the pages that needs a script, kept out of the HTML (the pages allow no
// inline script).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) window.print();
});
