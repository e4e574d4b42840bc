// The studio's list designer: the columns dragged into their order (SortableJS); the
// form then asks htmx for the preview again, as a tick does.
function listDesigner() {
  const designer = document.querySelector("[data-list-designer]");
  if (!designer || designer.dataset.ready) return;
  if (!window.Sortable) {  // a boosted visit loads the scripts in any order
    document.querySelector("script[src*=sortable]").addEventListener("load", listDesigner);
    return;
  }
  designer.dataset.ready = "1";
  new Sortable(designer.querySelector("[data-columns]"), {
    animation: 120, forceFallback: true, handle: ".ld-handle",
    onEnd: () => designer.dispatchEvent(new Event("reordered")),
  });
}
listDesigner();
