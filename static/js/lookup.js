// Type-ahead lookups: a WAI-ARIA 1.2 combobox (list autocomplete, manual selection) on
// every <input data-lookup="<api url>">, fed by GET /api/v1/lookups/<kind>/ (issue 16).
//
// Without this script the field stays a plain text field where the code is typed, so
// nothing here may be needed to post a valid form. The keys:
//   typing        asks the server (60 ms after the last key) and shows the options
//   ArrowDown/Up  open the list (empty field: the first options) and move in it
//   Enter         picks the active option; with no active option the page's own Enter
//   Escape        closes the list and keeps the text
//   Tab           closes the list and keeps what was typed (the page's own Tab follows)
// Attributes (written by core.forms.LookupInput):
//   data-lookup-params   extra query parameters ("action=skip")
//   data-lookup-follow   "item=id_item_number": send that field's value as `item`
//   data-lookup-show     "label": show the option's label and post its value from a
//                        hidden field of the same name (a card's id means nothing to read)
//   data-lookup-text     that label for the value the page was rendered with
//   data-lookup-none / -one / -many / -list-name   the words read out, in the page's language
"use strict";

(function () {
  const DEBOUNCE_MS = 60;
  const LIMIT = 10;
  // Answers kept for a minute: arrowing back over what was typed costs no request.
  const CACHE_SIZE = 40;
  const CACHE_MS = 60_000;
  const cache = new Map();
  let counter = 0;

  function cached(url) {
    const hit = cache.get(url);
    if (!hit || Date.now() - hit.at > CACHE_MS) return null;
    cache.delete(url); // re-inserted: the Map's order is the least recently used first
    cache.set(url, hit);
    return hit.results;
  }

  function remember(url, results) {
    cache.set(url, { at: Date.now(), results });
    while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  }

  function ensureId(element, prefix) {
    if (!element.id) element.id = `${prefix}-${++counter}`;
    return element.id;
  }

  function enhance(input) {
    if (input.dataset.lookupReady) return;
    input.dataset.lookupReady = "true";
    const id = ensureId(input, "lookup");

    const wrapper = document.createElement("div");
    wrapper.className = "lookup";
    input.parentNode.insertBefore(wrapper, input);
    const listbox = document.createElement("ul");
    listbox.id = `${id}-listbox`;
    listbox.className = "lookup-listbox";
    listbox.setAttribute("role", "listbox");
    listbox.hidden = true;
    // The list's name says whose options they are ("Item number, options"), and differs
    // from the field's: a reader asking for the field by its label finds the field alone.
    const label = input.labels && input.labels[0];
    const fieldName = label ? label.textContent.trim() : "";
    listbox.setAttribute(
      "aria-label", (input.dataset.lookupListName || "{field}").replace("{field}", fieldName),
    );
    const status = document.createElement("div");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    // Moving the field into its wrapper takes its focus away: given back, caret and all
    // (the order's Item number is focused and selected as soon as its line is added).
    const hadFocus = document.activeElement === input;
    const [start, end] = [input.selectionStart, input.selectionEnd];
    wrapper.append(input, listbox, status);
    if (hadFocus) {
      input.focus();
      input.setSelectionRange(start, end);
    }

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);
    input.setAttribute("autocomplete", "off");
    // The <datalist> (if any) is for pages without this script: one list at a time.
    input.removeAttribute("list");

    // Label mode: the visible field shows the option's label, a hidden field posts its value.
    let hidden = null;
    if (input.dataset.lookupShow === "label") {
      hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = input.name;
      hidden.value = input.value;
      hidden.disabled = input.disabled; // a field shown, not sent (an action's preview)
      input.removeAttribute("name");
      input.value = input.dataset.lookupText || "";
      wrapper.append(hidden);
    }

    let options = []; // the answer's results, in the listbox's order
    let active = -1;
    let timer = null;
    let controller = null;
    let asked = 0; // the latest request's number: an older answer is dropped
    let pending = null; // "first" / "last": activate when the answer arrives (ArrowDown/Up)

    const isOpen = () => input.getAttribute("aria-expanded") === "true";

    function requestUrl(query) {
      const params = new URLSearchParams(input.dataset.lookupParams || "");
      const follow = input.dataset.lookupFollow;
      if (follow) {
        const [name, fieldId] = follow.split("=");
        const source = document.getElementById(fieldId);
        if (source && source.value.trim()) params.set(name, source.value.trim());
      }
      params.set("q", query);
      params.set("limit", String(LIMIT));
      return `${input.dataset.lookup}?${params}`;
    }

    async function ask(query) {
      const url = requestUrl(query);
      const number = ++asked;
      let results = cached(url);
      if (!results) {
        if (controller) controller.abort();
        controller = new AbortController();
        try {
          const response = await fetch(url, {
            headers: { Accept: "application/json", "Accept-Language": document.documentElement.lang },
            credentials: "same-origin",
            signal: controller.signal,
          });
          // A refused or wrong request (an unknown item followed) offers nothing: the
          // agent types the code and the page's own validation speaks.
          results = response.ok ? (await response.json()).results || [] : [];
          if (response.ok) remember(url, results);
        } catch (error) {
          if (error.name === "AbortError") return;
          results = [];
        }
      }
      if (number !== asked || document.activeElement !== input) return;
      show(results);
    }

    function announce(count) {
      const words = count === 0 ? input.dataset.lookupNone
        : count === 1 ? input.dataset.lookupOne : input.dataset.lookupMany;
      status.textContent = (words || "").replace("{count}", String(count));
    }

    function show(results) {
      options = results;
      listbox.replaceChildren(
        ...results.map((result, index) => {
          const option = document.createElement("li");
          option.id = `${listbox.id}-${index}`;
          option.setAttribute("role", "option");
          option.setAttribute("aria-selected", "false");
          if (result.disabled) option.setAttribute("aria-disabled", "true");
          const main = document.createElement("span");
          main.className = "lookup-label";
          main.textContent = result.label;
          option.append(main);
          const more = [result.description, result.disabled ? result.disabled_reason : ""]
            .filter(Boolean).join(" · ");
          if (more) {
            const description = document.createElement("span");
            description.className = "lookup-description";
            description.textContent = more;
            option.append(description);
          }
          return option;
        }),
      );
      active = -1;
      announce(results.length);
      if (!results.length) {
        close();
        return;
      }
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
      if (pending === "first") activate(0);
      if (pending === "last") activate(results.length - 1);
      pending = null;
    }

    function close() {
      clearTimeout(timer);
      pending = null;
      asked++; // an answer still on its way opens nothing
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function activate(index) {
      const items = listbox.children;
      if (active >= 0 && items[active]) {
        items[active].setAttribute("aria-selected", "false");
        items[active].classList.remove("active");
      }
      active = index;
      if (index < 0 || !items[index]) {
        input.removeAttribute("aria-activedescendant");
        return;
      }
      items[index].setAttribute("aria-selected", "true");
      items[index].classList.add("active");
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    }

    function pick(index) {
      const result = options[index];
      if (!result || result.disabled) return false;
      if (hidden) {
        hidden.value = result.value;
        input.value = result.label;
      } else {
        input.value = result.value;
      }
      close();
      // What the page already listens to still hears a pick (not trusted: not re-asked).
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
      if (hidden) hidden.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }

    function openAndMove(where) {
      if (isOpen() && options.length) {
        const count = options.length;
        const next = where === "first"
          ? (active + 1) % count
          : (active <= 0 ? count - 1 : active - 1);
        activate(next);
        return;
      }
      pending = where;
      clearTimeout(timer);
      ask(input.value.trim());
    }

    input.addEventListener("input", (event) => {
      if (!event.isTrusted) return;
      // Typed text is no longer the picked option: the hidden value waits for a new pick.
      if (hidden) hidden.value = "";
      clearTimeout(timer);
      const query = input.value.trim();
      if (!query) {
        close();
        return;
      }
      timer = setTimeout(() => ask(query), DEBOUNCE_MS);
    });

    input.addEventListener("keydown", (event) => {
      if (event.altKey && event.key === "ArrowDown") {
        event.preventDefault();
        if (!isOpen()) openAndMove(null);
        return;
      }
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          openAndMove("first");
          break;
        case "ArrowUp":
          event.preventDefault();
          openAndMove("last");
          break;
        case "Enter":
          if (isOpen() && active >= 0) {
            // The active option is picked, the form is not sent; a disabled one stays.
            event.preventDefault();
            event.stopImmediatePropagation();
            pick(active);
          } else {
            close(); // and the page's own Enter (submit) goes on
          }
          break;
        case "Escape":
          if (isOpen()) {
            // Only the list closes, not a <dialog> around the field.
            event.preventDefault();
            event.stopPropagation();
          }
          close();
          break;
        case "Tab":
          close(); // keeps what was typed; the page's own Tab goes on
          break;
        default:
          break;
      }
    });

    input.addEventListener("blur", close);
    // The input keeps the focus while an option is clicked.
    listbox.addEventListener("mousedown", (event) => event.preventDefault());
    listbox.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (!option) return;
      const index = [...listbox.children].indexOf(option);
      if (!pick(index)) activate(index);
    });
  }

  function enhanceAll(root) {
    if (root.matches && root.matches("input[data-lookup]")) enhance(root);
    if (root.querySelectorAll) root.querySelectorAll("input[data-lookup]").forEach(enhance);
  }

  document.addEventListener("DOMContentLoaded", () => {
    enhanceAll(document);
    // Parts of a page replaced by a fetch (the order's line entry) bring new fields.
    new MutationObserver((records) => {
      records.forEach((record) => record.addedNodes.forEach(enhanceAll));
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
