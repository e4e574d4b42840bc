// Small behaviours the screens need beyond htmx: picking a ref suggestion,
// removing a child row, selecting every row of a list, submitting a filter as it
// changes. Here rather than in attributes: the Content-Security-Policy runs no
// inline script.
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
  if (event.target.matches("[data-autosubmit]")) {
    event.target.form.requestSubmit();
  }
  if (event.target.matches("[data-select-all]")) {
    const table = event.target.closest("table");
    table.querySelectorAll("input[name=ids]").forEach((box) => { box.checked = event.target.checked; });
  }
  if (event.target.matches("[data-ref-text]") && event.target.value === "") {
    const hidden = event.target.closest("[data-ref-picker]").querySelector("input[type=hidden]");
    hidden.value = "";
  }
});

// A field that takes its value from a ref (an order line's price from its item) is
// filled as the ref is picked, unless the user typed one; picking another ref fills
// it again. The form's preview answers each such field's value in an <output id=fill-…>;
// a field the user is in is left alone, so an answer that arrives mid-typing cannot
// merge with what they type.
document.addEventListener("change", (event) => {  // capturing: before the preview is asked
  document.querySelectorAll(`[data-from="${event.target.name}"]`).forEach((input) => {
    if (input.dataset.auto) input.value = "";
  });
}, true);
document.addEventListener("input", (event) => {
  if (event.target.matches("[data-from]")) delete event.target.dataset.auto;
});
document.addEventListener("htmx:afterSettle", () => {
  document.querySelectorAll("output[id^='fill-']").forEach((fill) => {
    const input = document.getElementById(fill.id.slice(5));
    if (!input || input === document.activeElement || !fill.textContent) return;
    if (input.value === "" || input.dataset.auto) {
      input.value = fill.textContent;
      input.dataset.auto = "1";
    }
  });
});

// Conditional fields: the form's preview answers, in <output id=field-states>, the state
// of each conditioned field (shown, required, read-only) as the server evaluated it on
// what is typed; the page shows those states. The server evaluates the conditions, in the
// formulas' language, so the browser never holds a second copy of them to drift apart;
// it stays the judge on save. A section none of whose fields shows is hidden too.
function showStates(states) {
  Object.entries(states).forEach(([name, state]) => {
    const holder = document.querySelector(`[data-state="${CSS.escape(name)}"]`);
    if (!holder) return;
    holder.toggleAttribute("data-hidden", !state.visible);
    holder.toggleAttribute("data-readonly", state.readonly);
    holder.inert = state.readonly;
    holder.querySelectorAll(".req").forEach((mark) => { mark.hidden = !state.required; });
    holder.querySelectorAll("input:not([type=hidden]), select, textarea").forEach((control) => {
      control.setAttribute("aria-required", String(state.required));
    });
  });
  document.querySelectorAll(".record-form .form-section").forEach((section) => {
    const fields = [...section.querySelectorAll(".field")];
    section.toggleAttribute("data-hidden", fields.length > 0 && fields.every((f) => f.hasAttribute("data-hidden")));
  });
}
document.addEventListener("htmx:afterSettle", () => {
  const answer = document.getElementById("field-states");
  if (answer && answer.dataset.states) showStates(JSON.parse(answer.dataset.states));
});

// A form sent by htmx is emptied once it went through (the timeline's comment box).
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful && event.detail.elt.matches("form[data-reset-on-success]")) {
    event.detail.elt.reset();
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
  if (!list || !list.classList || !list.classList.contains("suggestions")) return;
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

// A submit button with data-confirm asks first (hx-confirm on a form would ask for
// every request made inside it, sorting and paging included).
document.addEventListener("htmx:confirm", (event) => {
  const trigger = event.detail.triggerEvent;
  const question = trigger && trigger.submitter && trigger.submitter.dataset.confirm;
  if (!question) return;
  event.preventDefault();
  if (window.confirm(question)) event.detail.issueRequest(true);
});

// The ref picker from the keyboard: Down moves into the suggestions, Enter takes the
// first one instead of submitting the form, Up from the first goes back to the text.
document.addEventListener("keydown", (event) => {
  const picker = event.target.closest && event.target.closest("[data-ref-picker]");
  if (!picker) return;
  const options = Array.from(picker.querySelectorAll(".suggestion"));
  const index = options.indexOf(event.target);
  if (event.key === "ArrowDown" && options.length) {
    event.preventDefault();
    options[Math.min(index + 1, options.length - 1)].focus();
  } else if (event.key === "ArrowUp" && index >= 0) {
    event.preventDefault();
    (index === 0 ? picker.querySelector("[data-ref-text]") : options[index - 1]).focus();
  } else if (event.key === "Enter" && event.target.matches("[data-ref-text]")) {
    event.preventDefault();
    if (options.length) options[0].click();
  }
});

// Report charts: a canvas carries its data (labels, series, each point's drill-down
// link, and how its figures read: ¥1,234.00, 12.5%) as JSON; Chart.js draws it.
const CHART_TYPES = { bar: "bar", stacked_bar: "bar", line: "line", pie: "pie" };
function drawCharts(root) {
  if (!window.Chart) return;
  root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    if (canvas.chart) return;
    const spec = JSON.parse(canvas.dataset.chart);
    const stacked = spec.type === "stacked_bar";
    const { locale, ...shape } = spec.figures || {};
    const figure = new Intl.NumberFormat(locale, shape);
    const ticks = { callback: (value) => figure.format(value) };
    const tooltip = {
      callbacks: {
        label: (item) => {
          const value = typeof item.parsed === "object" ? item.parsed.y : item.parsed;
          return `${item.dataset.label || item.label}: ${figure.format(value)}`;
        },
      },
    };
    canvas.chart = new Chart(canvas, {
      type: CHART_TYPES[spec.type] || "bar",
      data: { labels: spec.labels, datasets: spec.series.map((s) => ({ label: s.label, data: s.data })) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, locale,
        scales: spec.type === "pie" ? {} : { x: { stacked }, y: { stacked, beginAtZero: true, ticks } },
        plugins: { legend: { display: spec.series.length > 1 || spec.type === "pie" }, tooltip },
        onClick: (_event, points) => {   // a bar or point opens the records behind it
          const point = points[0];
          const link = point && spec.series[point.datasetIndex].links?.[point.index];
          if (link) window.location.assign(link);
        },
      },
    });
  });
}
document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:load", (event) => drawCharts(event.detail.elt));
// A page htmx swaps in loads Chart.js in its body (htmx drops a page's head): once it is
// there, the charts that came before it are drawn.
document.addEventListener("load", (event) => {
  if (event.target.matches?.("script[src*='/chart-']")) drawCharts(document);
}, true);
// The page htmx keeps for the Back button holds the canvases as Chart.js sized them, in
// style attributes the Content-Security-Policy refuses: kept without, drawn again.
document.addEventListener("htmx:beforeHistorySave", () => {
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    canvas.chart?.destroy();
    canvas.removeAttribute("style");
  });
});

// The studio: a problem's line link selects that line of the definition.
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-line]");
  const area = document.getElementById("definition");
  if (!link || !area) return;
  event.preventDefault();
  const lines = area.value.split("\n");
  const number = Number(link.dataset.line);
  const start = lines.slice(0, number - 1).reduce((sum, line) => sum + line.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[number - 1] || "").length);
});

// Printing the ticked rows of a list opens one PDF of them in a new tab: a link, since
// printing changes nothing (the bulk form around it posts its other actions).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print-selected]");
  if (!button) return;
  const form = button.closest("form");
  const ids = [...form.querySelectorAll("input[name=ids]:checked")].map((box) => box.value);
  if (!ids.length) return;
  const url = new URL(form.querySelector("[data-print-choice]").value, window.location.href);
  ids.forEach((id) => url.searchParams.append("ids", id));
  window.open(url, "_blank", "noopener");
});

// A print template in the studio previews itself as it is written: the form goes to
// its preview frame a moment after the typing stops, and once as the page opens.
let printPreviewTimer;
function previewPrint(form) {
  form.requestSubmit(form.querySelector("button[formaction*='/preview']"));
}
document.addEventListener("input", (event) => {
  if (!event.target.matches("[data-autosubmit-preview]")) return;
  clearTimeout(printPreviewTimer);
  printPreviewTimer = setTimeout(() => previewPrint(event.target.form), 600);
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit-preview]")) previewPrint(event.target.form);
});
document.addEventListener("htmx:load", (event) => {
  const form = event.target.querySelector && event.target.querySelector("#print-template");
  if (form) previewPrint(form);
});

// The top bar on a phone: its links fold into a menu the Menu button opens.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-menu-toggle], [data-fold-toggle]");
  if (!toggle) return;
  const folded = toggle.matches("[data-menu-toggle]")
    ? toggle.closest(".topbar") : document.getElementById(toggle.dataset.foldToggle);
  const open = folded.classList.toggle("open");
  toggle.setAttribute("aria-expanded", String(open));
});

// The warehouse floor. A scan's answer sounds: a short high beep when taken, a low
// buzz when refused (Web Audio: no sound file to fetch). The answer notes which it
// played in data-sounded.
let floorAudio = null;
function sound(ok) {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  floorAudio = floorAudio || new Context();
  const tone = floorAudio.createOscillator();
  const volume = floorAudio.createGain();
  tone.type = ok ? "sine" : "square";
  tone.frequency.value = ok ? 1320 : 160;
  volume.gain.value = 0.2;
  tone.connect(volume).connect(floorAudio.destination);
  const now = floorAudio.currentTime;
  tone.start(now);
  tone.stop(now + (ok ? 0.08 : 0.5));
}
let wedge = { keys: "", last: 0 };  // keys typed to no field: a scanner's, see below
function answerScan(root) {
  const answer = root.querySelector && root.querySelector("[data-scan-result]:not([data-sounded])");
  if (answer) {
    sound(answer.dataset.scanResult === "ok");
    answer.dataset.sounded = answer.dataset.scanResult;
  }
  const box = document.querySelector("[data-scan-input]");
  if (box && !document.querySelector("[data-camera-view]:not([hidden])")) box.focus();
  // what the scanner typed while the last scan was answered: into the box on the way,
  // or, as the box was swapped, to no field (the wedge's keys)
  const typed = waiting.keys + wedge.keys;
  if (box && typed) {
    box.value = typed;
    waiting.keys = wedge.keys = "";
    if (waiting.entered) box.form.requestSubmit();
    waiting.entered = false;
  }
}
// Keys typed into the box while its scan is on the way are kept for the next box.
const waiting = { keys: "", entered: false };
document.addEventListener("keydown", (event) => {
  if (!event.target.matches || !event.target.matches("[data-scan-input][readonly]")) return;
  if (event.key === "Enter") waiting.entered = waiting.keys.length > 0;
  else if (event.key.length === 1) waiting.keys += event.key;
});
document.addEventListener("DOMContentLoaded", () => answerScan(document));
document.addEventListener("htmx:load", (event) => answerScan(event.detail.elt));
// A scan box sends one scan at a time: a scanner's next code waits for the answer
// (its keys kept, see above).
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.matches(".scan-box")) event.detail.elt.querySelector("[data-scan-input]").readOnly = true;
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.elt.matches(".scan-box")) event.detail.elt.querySelector("[data-scan-input]").readOnly = false;
});

// A scanner acting as a keyboard types a code fast and ends it with Enter. Typed where
// no field has the focus, the code goes to the page's scan box, or else to the look-up.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
  const now = event.timeStamp;
  if (now - wedge.last > 80) wedge.keys = "";  // slower than a scanner: someone typing
  wedge.last = now;
  if (event.key.length === 1) {
    wedge.keys += event.key;
    return;
  }
  if (event.key !== "Enter" || wedge.keys.length < 3) return;
  const code = wedge.keys;
  wedge.keys = "";
  event.preventDefault();
  const box = document.querySelector("[data-scan-input]");
  if (box) {
    box.value = code;
    box.form.requestSubmit();
  } else if (document.body.dataset.scanLookup) {
    window.location.assign(document.body.dataset.scanLookup + "?code=" + encodeURIComponent(code));
  }
});

// The phone's camera, through the vendored html5-qrcode, loaded the first time it is
// asked for; a code it reads is sent like a typed one. Browsers open a camera only
// on https (or localhost).
function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (window.Html5Qrcode) { resolve(); return; }
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-camera]");
  if (!button) return;
  const form = button.closest("form");
  const view = form.querySelector("[data-camera-view]");
  if (view.scanner) {
    await view.scanner.stop().catch(() => {});
    view.scanner = null;
    view.hidden = true;
    button.textContent = button.dataset.start;
    return;
  }
  if (!window.isSecureContext) {
    view.hidden = false;
    view.textContent = button.dataset.unsafe;
    return;
  }
  await loadScript(button.dataset.camera);
  view.id = view.id || "camera-" + Date.now();
  view.hidden = false;
  button.textContent = button.dataset.stop;
  view.scanner = new window.Html5Qrcode(view.id);
  view.scanner.start({ facingMode: "environment" }, { fps: 10, qrbox: { width: 260, height: 160 } },
    async (text) => {
      await view.scanner.stop().catch(() => {});
      view.scanner = null;
      view.hidden = true;
      button.textContent = button.dataset.start;
      form.querySelector("[data-scan-input]").value = text;
      form.requestSubmit();
    }).catch((error) => {
      view.scanner = null;
      view.textContent = String(error);
    });
});

// The studio's workflow diagram: press on a status, drag to another and let go, and the
// panel that adds a transition opens with both chosen. A press that does not move stays
// a click on the status. Listened for on the document, so a page htmx swapped in draws too.
const flowDrawing = { from: null, start: null, line: null, dragged: false };
function flowPoint(svg, event) {
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  return point.matrixTransform(svg.getScreenCTM().inverse());
}
document.addEventListener("pointerdown", (event) => {
  flowDrawing.dragged = false;
  const state = event.target.closest(".flow-diagram[data-draw] .flow-state");
  if (!state || event.button !== 0) return;
  event.preventDefault(); // no native drag of the link
  const svg = state.ownerSVGElement;
  Object.assign(flowDrawing, { from: state, start: flowPoint(svg, event), line: null, dragged: false });
});
document.addEventListener("pointermove", (event) => {
  const { from, start } = flowDrawing;
  if (!from) return;
  const svg = from.ownerSVGElement;
  const at = flowPoint(svg, event);
  if (!flowDrawing.line) {
    if (Math.hypot(at.x - start.x, at.y - start.y) < 8) return;
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "flow-drawing");
    line.setAttribute("marker-end", "url(#flow-arrowhead)");
    line.setAttribute("x1", start.x);
    line.setAttribute("y1", start.y);
    svg.appendChild(line);
    flowDrawing.line = line;
  }
  flowDrawing.line.setAttribute("x2", at.x);
  flowDrawing.line.setAttribute("y2", at.y);
});
document.addEventListener("pointerup", (event) => {
  const { from, line } = flowDrawing;
  flowDrawing.from = null;
  if (!from || !line) return;
  line.remove();
  flowDrawing.dragged = true; // the click that follows is not a click on a status
  const target = document.elementFromPoint(event.clientX, event.clientY)?.closest(".flow-state");
  if (!target || target === from || target.ownerSVGElement !== from.ownerSVGElement) return;
  const url = new URL(from.ownerSVGElement.dataset.draw, window.location.href);
  url.searchParams.set("from", from.dataset.state);
  url.searchParams.set("to", target.dataset.state);
  url.hash = "edit-panel";
  window.location.assign(url);
});
document.addEventListener(
  "click",
  (event) => {
    if (!flowDrawing.dragged) return;
    flowDrawing.dragged = false;
    event.preventDefault();
    event.stopPropagation();
  },
  true,
);

// A studio designer that drags with SortableJS: ``start(root)`` runs once, when both the
// element ``selector`` names and the library are there (a boosted visit loads the
// scripts in any order).
function withSortable(selector, start) {
  const root = document.querySelector(selector);
  if (!root || root.dataset.ready) return;
  if (!window.Sortable) {
    document.querySelector("script[src*=sortable]")
      .addEventListener("load", () => withSortable(selector, start));
    return;
  }
  root.dataset.ready = "1";
  start(root);
}
