// The studio's dashboard: tiles dragged into their order (SortableJS) renumber their
// places, which is what the form sends (typing a place works without a mouse too); a
// width chosen shows at once.
withSortable("[data-tiles]", (grid) => {
  grid.sortable = new Sortable(grid, {
    animation: 120,
    forceFallback: true,
    filter: "input, select, label",
    preventOnFilter: false,
    onEnd: () => {
      grid.querySelectorAll("input[name$='_place']").forEach((input, i) => { input.value = i + 1; });
    },
  });
  grid.addEventListener("change", (event) => {
    const width = event.target.closest("[data-tile] select[name$='_width']");
    if (width) width.closest("[data-tile]").dataset.width = width.value;
  });
});
