// Small behaviours the screens need beyond htmx: picking a ref suggestion,
// removing a child row, selecting every row of a list.
document.addEventListener("click", (event) => {
  const pick = event.target.closest("[data-pick]");
  if (pick) {
    const hidden = document.getElementById(pick.dataset.pick);
    const picker = hidden.closest("[data-ref-picker]");
    hidden.value = pick.dataset.id;
    picker.querySelector("[data-ref-text]").value = pick.dataset.title;
    picker.querySelector(".suggestions").replaceChildren();
    hidden.dispatchEvent(new Event("change", { bubbles: true }));
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    remove.closest("tr").remove();
    document.body.dispatchEvent(new Event("rows-changed"));
  }
});

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    const table = event.target.closest("table");
    table.querySelectorAll("input[name=ids]").forEach((box) => { box.checked = event.target.checked; });
  }
  if (event.target.matches("[data-ref-text]") && event.target.value === "") {
    const hidden = event.target.closest("[data-ref-picker]").querySelector("input[type=hidden]");
    hidden.value = "";
  }
});

// Escape closes an open suggestion list.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll(".suggestions").forEach((list) => list.replaceChildren());
  }
});

// Suggestions that arrive after the user has moved on (picked one, or left the
// field) are dropped instead of reopening the list.
document.addEventListener("htmx:afterSwap", (event) => {
  const list = event.detail.target;
  if (!list.classList || !list.classList.contains("suggestions")) return;
  const text = list.closest("[data-ref-picker]").querySelector("[data-ref-text]");
  if (document.activeElement !== text) list.replaceChildren();
});

document.addEventListener("focusout", (event) => {
  const picker = event.target.closest && event.target.closest("[data-ref-picker]");
  if (!picker) return;
  setTimeout(() => {
    if (!picker.contains(document.activeElement)) {
      picker.querySelector(".suggestions").replaceChildren();
    }
  }, 200);
});
