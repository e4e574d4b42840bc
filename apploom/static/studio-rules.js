// The studio's rule editor: the trigger's details (which fields, the schedule or the
// webhook's name) show only for the trigger that takes them. Without this script they
// all show, and the server reads only the ones the chosen trigger needs.
function showTriggerDetails(select) {
  const chosen = select.value;
  select.closest("fieldset").querySelectorAll("[data-when]").forEach((part) => {
    part.hidden = !part.dataset.when.split(" ").includes(chosen);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-rule-trigger]")) showTriggerDetails(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-rule-trigger]").forEach(showTriggerDetails);
});
document.addEventListener("htmx:load", (event) => {
  event.detail.elt.querySelectorAll?.("[data-rule-trigger]").forEach(showTriggerDetails);
});
