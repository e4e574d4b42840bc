// The studio's dashboard: tiles dragged into their order (SortableJS) renumber their
// places, which is what the form sends (typing a place works without a mouse too); a
// width chosen shows at once. The page loads this in its body, so it also runs when
// htmx swaps the page in, and Sortable may arrive after it: it arranges once both are.
(() => {
  function arrange(root) {
    const grid = root.querySelector?.("[data-tiles]");
    if (!grid || grid.sortable || !window.Sortable) return;
    grid.sortable = new Sortable(grid, {
      animation: 120,
      forceFallback: true,
      filter: "input, select, label",
      preventOnFilter: false,
      onEnd: () => {
        grid.querySelectorAll("input[name$='_place']").forEach((input, i) => { input.value = i + 1; });
      },
    });
  }
  if (window.arrangeTiles) {
    window.arrangeTiles(document);
    return;
  }
  window.arrangeTiles = arrange;
  document.addEventListener("change", (event) => {
    const width = event.target.closest("[data-tile] select[name$='_width']");
    if (width) width.closest("[data-tile]").dataset.width = width.value;
  });
  document.addEventListener("load", (event) => {
    if (event.target.matches?.("script[src*='/sortable-']")) arrange(document);
  }, true);
  document.addEventListener("htmx:load", () => arrange(document));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => arrange(document));
  } else {
    arrange(document);
  }
})();
