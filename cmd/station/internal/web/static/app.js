// The console's only script, a plain module: pages work without it; it
// adds a confirmation before destructive forms (data-confirm).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
}
