// The studio's list designer: the columns dragged into their order (SortableJS); the
// form then asks htmx for the preview again, as a tick does.
withSortable("[data-list-designer]", (designer) => {
  new Sortable(designer.querySelector("[data-columns]"), {
    animation: 120, forceFallback: true, handle: ".ld-handle",
    onEnd: () => designer.dispatchEvent(new Event("reordered")),
  });
});
