// keypaird console: small progressive additions. Every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: data-copy names the element whose text is copied.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = document.getElementById("copy-status");
      try {
        await navigator.clipboard.writeText(source.textContent);
        if (status) status.textContent = "Copied.";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) status.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }
  // "Select all" checkboxes: data-select-all names the group of data-select boxes.
  for (const all of document.querySelectorAll("[data-select-all]")) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll(`[data-select="${all.dataset.selectAll}"]`)) {
        box.checked = all.checked;
      }
    });
  }
  // File inputs that fill a textarea: data-read-into names it.
  for (const input of document.querySelectorAll("[data-read-into]")) {
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      if (file.size > 16384) {
        alert("A public key file is at most 16 KiB.");
        return;
      }
      document.getElementById(input.dataset.readInto).value = await file.text();
    });
  }
  // After the private key has downloaded, the form is cleared so the same name is not sent twice.
  const created = document.getElementById("new-key-pair");
  if (created && created.action.endsWith("/create")) {
    created.addEventListener("submit", () => {
      setTimeout(() => {
        const notice = document.createElement("div");
        notice.className = "notice";
        notice.setAttribute("role", "status");
        notice.textContent = "If the name was free, the private key is downloading now; it is not shown again.";
        created.before(notice);
      }, 300);
    });
  }
});
