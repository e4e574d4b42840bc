// The studio's rule editor: the trigger's details (which fields, the schedule or the
// webhook's name) show only for the trigger that takes them. Without this script they
// all show, and the server reads only the ones the chosen trigger needs. Rows of an
// action (fields and values, an assignment's rules) end with an empty one; choosing in
// it adds the next. A part redrawn while it is typed in keeps what was typed. The pages
// load it in their body, so it also runs when htmx swaps one in (it drops a page's
// head); run again, it only shows the new page's details.
(() => {
  function showTriggerDetails(root) {
    root.querySelectorAll?.("[data-rule-trigger]").forEach((select) => {
      select.closest("fieldset").querySelectorAll("[data-when]").forEach((part) => {
        part.hidden = !part.dataset.when.split(" ").includes(select.value);
      });
    });
  }
  if (window.showTriggerDetails) {
    window.showTriggerDetails(document);
    return;
  }
  window.showTriggerDetails = showTriggerDetails;
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-rule-trigger]")) showTriggerDetails(event.target.form);
    const rows = event.target.closest("[data-more-rows]");
    const last = rows?.lastElementChild;
    if (!last?.contains(event.target) || !event.target.matches("select") || !event.target.value) return;
    const next = last.cloneNode(true);
    next.querySelectorAll("select, input").forEach((input) => {
      input.name = input.name.replace(/\d+$/, (n) => String(Number(n) + 1));
      input.value = "";
    });
    rows.append(next);
  });
  document.addEventListener("htmx:load", (event) => showTriggerDetails(event.detail.elt));
  // A part redrawn while one of its inputs is being typed into (the condition's row after
  // its operator was picked, on a slow network) keeps what was typed there, and the focus.
  let typing = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    const input = document.activeElement;
    const typed = input?.matches("input:not([type=checkbox]), textarea") && input.name;
    typing = typed && event.detail.target.contains(input) ? { name: input.name, value: input.value } : null;
  });
  document.addEventListener("htmx:afterSwap", () => {
    const again = typing && document.querySelector(`[name="${CSS.escape(typing.name)}"]`);
    if (again && again.value !== typing.value && typing.value) {
      again.value = typing.value;
      again.focus();
    }
    typing = null;
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => showTriggerDetails(document));
  } else {
    showTriggerDetails(document);
  }
})();
