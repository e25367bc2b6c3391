// Continuity: the little the pages need beyond HTML. Every form also works without it.
"use strict";

(function () {
  const FRAGMENT_HEADERS = { "X-Requested-With": "fetch" };

  function openModal(dialog) {
    if (dialog.open) dialog.close();
    dialog.showModal();
    const target = dialog.querySelector("[aria-invalid=true], .error ~ input, input:not([type=hidden]), select, button");
    if (target) target.focus();
  }

  // The invoice page's Print button (the CSP allows no inline script).
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });

  // Language switcher: switch as soon as a language is picked.
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });

  // Customer service: Tab, Enter or Search opens the results dialog.
  function setUpCustomerSearch(form) {
    const input = form.querySelector("[data-search-input]");
    const dialog = document.getElementById("search-dialog");
    const body = document.getElementById("search-dialog-body");
    const errorBox = document.getElementById("search-error");
    let busy = false;

    async function search() {
      const query = input.value.trim();
      if (busy) return;
      busy = true;
      try {
        const url = form.dataset.resultsUrl + "?" + new URLSearchParams({ q: query });
        const response = await fetch(url, { headers: FRAGMENT_HEADERS });
        const html = await response.text();
        if (response.status === 400) {
          const holder = document.createElement("div");
          holder.innerHTML = html;
          const message = holder.querySelector("[data-search-error]");
          errorBox.textContent = message ? message.textContent : "";
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        errorBox.textContent = "";
        input.removeAttribute("aria-invalid");
        body.innerHTML = html;
        openModal(dialog);
        const firstRadio = dialog.querySelector("input[type=radio]");
        if (firstRadio) firstRadio.focus();
      } finally {
        busy = false;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      search();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !event.shiftKey && input.value.trim()) {
        event.preventDefault();
        search();
      }
    });
  }

  // A click anywhere on a result row marks it.
  document.addEventListener("click", (event) => {
    const row = event.target.closest("table.selectable tbody tr");
    if (!row || event.target.matches("input, a, button, label")) return;
    const radio = row.querySelector("input[type=radio]");
    if (radio) {
      radio.checked = true;
      radio.focus();
    }
  });

  // Order entry: Tab (or Enter) in Item number adds the line without leaving the page.
  function setUpOrderEntry(container) {
    async function addLine(form) {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: FRAGMENT_HEADERS,
      });
      container.innerHTML = await response.text();
      const field = container.querySelector("[data-add-line-on-tab]");
      if (field) {
        field.focus();
        if (field.value) field.select();
      }
    }

    container.addEventListener("submit", (event) => {
      const form = event.target;
      if (!form.matches("[data-line-form]")) return;
      event.preventDefault();
      addLine(form);
    });
    container.addEventListener("keydown", (event) => {
      const field = event.target;
      if (!field.matches("[data-add-line-on-tab]")) return;
      if (event.key === "Tab" && !event.shiftKey && field.value.trim()) {
        event.preventDefault();
        addLine(field.form);
      }
    });
  }

  // Buttons that open a dialog (Add credit card), and dialogs shown again after an error.
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (!opener) return;
    const dialog = document.getElementById(opener.dataset.openDialog);
    copyFields(dialog);
    openModal(dialog);
  });

  function copyFields(scope) {
    scope.querySelectorAll("[data-copy-from]").forEach((hidden) => {
      const source = document.getElementById(hidden.dataset.copyFrom);
      if (source) hidden.value = source.value;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-customer-search]").forEach(setUpCustomerSearch);
    document.querySelectorAll("[data-order-entry]").forEach(setUpOrderEntry);
    document.querySelectorAll("dialog[data-open-on-load]").forEach(openModal);
    const searchDialog = document.getElementById("search-dialog");
    if (searchDialog && searchDialog.open) openModal(searchDialog);
  });
})();

// Batch run page: follow the run until it finishes.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.querySelector("[data-run-progress][data-polling]");
    if (!box) return;
    const bar = box.querySelector("progress");
    const summary = box.querySelector("[data-run-summary]");
    const status = document.querySelector("[data-run-status]");
    async function poll() {
      const response = await fetch(box.dataset.runProgress, { headers: { "X-Requested-With": "fetch" } });
      if (!response.ok) return setTimeout(poll, 3000);
      const progress = await response.json();
      bar.value = progress.percent;
      bar.textContent = progress.percent + "%";
      summary.textContent = progress.summary;
      status.textContent = progress.status_label;
      status.className = "badge status-" + progress.status;
      // The finished page lists the child orders and what was not processed.
      if (progress.finished) window.location.reload();
      else setTimeout(poll, 1000);
    }
    setTimeout(poll, 500);
  });
})();
