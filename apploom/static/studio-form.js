// The studio's form designer: field types dragged from the palette into a row add a
// field, fields dragged between rows and sections move it (SortableJS), a click opens
// the field's properties panel (htmx); a table's row fields open theirs from the chips
// under it, and a type picked there adds one to each row. On submit the sections and
// rows go to the server as JSON, with the panel's inputs.
withSortable("[data-form-designer]", (designer) => {
  const panel = designer.querySelector("#field-panel");
  const NEW = designer.dataset.new;

  function openPanel(card, query) {
    if (panel.dataset.changed && !window.confirm(designer.dataset.discard)) return;
    delete panel.dataset.changed;
    designer.querySelectorAll(".selected").forEach((c) => c.classList.remove("selected"));
    card.classList.add("selected");
    htmx.ajax("GET", `${designer.dataset.panelUrl}?${query}`, { target: panel, swap: "innerHTML" })
      .then(() => {
        const first = panel.querySelector("input[name=label_zh]");
        if (first && card.dataset.field === NEW) first.focus();
        if (window.innerWidth < 900) panel.scrollIntoView({ block: "start" });
      });
  }

  function newCard(from) {
    designer.querySelectorAll(`.fd-field[data-field="${NEW}"]`).forEach((c) => c.remove());
    const card = document.createElement("div");
    card.className = "fd-field fd-new";
    card.dataset.field = NEW;
    card.tabIndex = 0;
    const name = document.createElement("label");
    name.textContent = from.textContent;
    const widget = document.createElement("fieldset");
    widget.className = "fd-widget";
    widget.disabled = true;
    widget.append(document.createElement("input"));
    card.append(name, widget);
    from.replaceWith(card);
    card.scrollIntoView({ block: "nearest" });
    const query = new URLSearchParams({ type: from.dataset.type });
    if (from.dataset.key === "formula") query.set("formula", "1");
    openPanel(card, query.toString());
  }

  function sortable(row) {
    if (row.sortable) return;
    row.sortable = new Sortable(row, {
      group: "fields", animation: 120, forceFallback: true, draggable: ".fd-field, .fd-type",
      filter: ".fd-row-fields", preventOnFilter: false,  // a row field's chip is clicked, not dragged
      onAdd: (event) => { if (event.item.dataset.type) newCard(event.item); },
    });
  }
  designer.querySelectorAll(".layout-row").forEach(sortable);
  new Sortable(designer.querySelector("[data-palette]"), {
    group: { name: "fields", pull: "clone", put: false }, sort: false, forceFallback: true,
  });

  designer.addEventListener("click", (event) => {
    const type = event.target.closest(".fd-type");
    if (type) {  // clicked, not dragged: the new field goes to the end of the form
      const copy = type.cloneNode(true);
      const rows = [...designer.querySelectorAll(".layout-section")].pop().querySelectorAll(".layout-row");
      rows[rows.length - 1].append(copy);
      newCard(copy);
      return;
    }
    const rowField = event.target.closest("[data-row-field]");
    if (rowField) {
      const query = { table: rowField.dataset.table, name: rowField.dataset.rowField };
      openPanel(rowField, new URLSearchParams(query));
      return;
    }
    if (event.target.closest("[data-row-new]")) return;  // its choice opens the panel
    const card = event.target.closest(".fd-field");
    if (card && card.dataset.field !== NEW) openPanel(card, new URLSearchParams({ name: card.dataset.field }));
    if (event.target.matches("[data-add-row]")) {
      const row = document.createElement("div");
      row.className = "layout-row";
      event.target.before(row);
      sortable(row);
    }
    if (event.target.matches("[data-add-section]")) {
      const first = designer.querySelector(".layout-section");
      const section = first.cloneNode(false);
      const labels = first.querySelector(".fd-section-label").cloneNode(true);
      labels.querySelectorAll("input").forEach((input) => { input.value = ""; });
      const row = document.createElement("div");
      row.className = "layout-row";
      const more = first.querySelector("[data-add-row]").cloneNode(true);
      section.append(labels, row, more);
      event.target.before(section);
      sortable(row);
    }
    if (event.target.matches("[data-add-option]")) {
      const rows = panel.querySelector("[data-option-rows]");
      const copy = rows.lastElementChild.cloneNode(true);
      copy.querySelectorAll("input, select").forEach((input) => { input.value = ""; });
      rows.append(copy);
      copy.querySelector("input").focus();
    }
  });
  designer.addEventListener("keydown", (event) => {
    const chosen = event.target.closest(".fd-field, .fd-type");
    if (chosen && (event.key === "Enter" || event.key === " ") && event.target === chosen) {
      event.preventDefault();
      chosen.click();
    }
  });

  // A field picked from a list goes into the expression at the cursor.
  designer.addEventListener("change", (event) => {
    const adding = event.target.closest("[data-row-new]");
    if (adding && adding.value) {  // a new field in each row of the table
      const query = new URLSearchParams({ table: adding.dataset.table, type: adding.value });
      if ("formula" in adding.selectedOptions[0].dataset) query.set("formula", "1");
      adding.value = "";
      openPanel(adding, query.toString());
      return;
    }
    const picker = event.target.closest("[data-insert]");
    if (!picker || !picker.value) return;
    const input = panel.querySelector(`[name="${picker.dataset.insert}"]`);
    const at = input.selectionStart ?? input.value.length;
    input.value = input.value.slice(0, at) + picker.value + input.value.slice(input.selectionEnd ?? at);
    input.focus();
    picker.value = "";
  });
  // The selected card's label follows the name typed in the screen's language.
  designer.addEventListener("input", (event) => {
    if (panel.contains(event.target)) panel.dataset.changed = "1";
    const typed = event.target.closest("[data-live-label]");
    const card = designer.querySelector(".fd-field.selected label");
    if (typed && card && typed.dataset.liveLabel === document.documentElement.lang.slice(0, 2)) {
      card.textContent = typed.value;
    }
  });

  designer.addEventListener("submit", (event) => {
    const [zh, en] = ["label_zh", "label_en"].map((name) => panel.querySelector(`[name=${name}]`));
    const retiring = event.submitter && event.submitter.name === "retire";
    if (zh && !retiring && !zh.value.trim() && !en.value.trim()) {  // a field needs a name
      event.preventDefault();
      zh.setCustomValidity(designer.dataset.nameIt);
      zh.reportValidity();
      zh.addEventListener("input", () => zh.setCustomValidity(""), { once: true });
      return;
    }
    const sections = [...designer.querySelectorAll(".layout-section")].map((section) => ({
      en: section.querySelector("[data-label=en]").value,
      zh: section.querySelector("[data-label=zh]").value,
      rows: [...section.querySelectorAll(".layout-row")].map((row) =>
        [...row.querySelectorAll(".fd-field")].map((card) => card.dataset.field)),
    }));
    designer.querySelector("input[name=layout]").value = JSON.stringify(sections);
  });
});
