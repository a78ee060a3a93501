// The demo page: every image goes to the public API, POST /model/predict, as any client would send it.
// Plain browser JavaScript, no libraries and no build step; the Content-Security-Policy forbids inline code,
// so all behaviour lives here and all text from the user (file names) is set with textContent.
"use strict";

const PREDICT_URL = new URL("../model/predict", document.baseURI);
const ALL_CLASSES = 10; // top_k=10: every class, for the bar chart
const percent = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });

const fileInput = document.getElementById("file-input");
const dropZone = document.getElementById("drop-zone");
const clearButton = document.getElementById("clear-button");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const template = document.getElementById("result-template");

function announce(text) {
  statusLine.textContent = text;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function summarise() {
  const done = results.querySelectorAll('.result[data-state="done"]').length;
  const failed = results.querySelectorAll('.result[data-state="error"]').length;
  const pending = results.querySelectorAll('.result[data-state="pending"]').length;
  if (pending || !results.children.length) return;
  announce(failed ? `${plural(done, "image")} classified; ${plural(failed, "file")} could not be classified.`
    : `${plural(done, "image")} classified.`);
}

// --- One result card per file ---

function addCard(file) {
  const card = template.content.firstElementChild.cloneNode(true);
  const name = file.name || "pasted image";
  card.querySelector(".file-name").textContent = name;
  showPreview(card, file, name);
  return card;
}

function showPreview(card, file, name) {
  const preview = card.querySelector(".preview");
  preview.alt = `Your image: ${name}`;
  preview.addEventListener("load", () => {
    // A Fashion-MNIST-sized image is shown enlarged with sharp pixels rather than blurred.
    preview.classList.toggle("pixelated", preview.naturalWidth < preview.clientWidth);
  });
  preview.addEventListener("error", () => {
    preview.hidden = true;
    card.querySelector(".no-preview").hidden = false;
  });
  const reader = new FileReader();
  reader.addEventListener("load", () => { preview.src = reader.result; });
  reader.readAsDataURL(file);
}

function showError(card, message) {
  card.dataset.state = "error";
  card.querySelector(".verdict").hidden = true;
  const error = card.querySelector(".error");
  error.textContent = message;
  error.hidden = false;
}

function showPrediction(card, body) {
  const name = card.querySelector(".file-name").textContent;
  const modelInput = card.querySelector(".model-input");
  modelInput.src = body.model_input;
  modelInput.alt = `The 28×28 image the model saw for ${name}`;
  modelInput.closest("figure").hidden = false;
  const photoInput = card.querySelector(".photo-input");
  photoInput.closest("figure").hidden = !body.photo_input;  // only photos meet the photo network
  if (body.photo_input) {
    photoInput.src = body.photo_input;
    photoInput.alt = `The 64×64 colour crop the photo network saw for ${name}`;
  }

  const top = body.predictions[0];
  const verdict = card.querySelector(".verdict");
  verdict.replaceChildren();
  const label = document.createElement("strong");
  label.className = "top-label";
  label.textContent = top.label;
  const probability = document.createElement("span");
  probability.className = "top-probability";
  probability.textContent = percent.format(top.probability);
  verdict.append(label, " ", probability);

  showNoneOfTheTen(card.querySelector(".none-of-the-ten"), body.none_of_the_ten, top.label);
  drawBars(card.querySelector(".bars"), body.predictions, top.label_id);
  card.dataset.state = "done";
}

// A picture flagged as none of the ten classes (a hat, shorts, a ball...) still gets its closest classes, but the
// page says plainly that they are only the closest.
function showNoneOfTheTen(notice, noneOfTheTen, closest) {
  const flagged = Boolean(noneOfTheTen && noneOfTheTen.flagged);
  notice.hidden = !flagged;
  notice.closest(".result").classList.toggle("flagged", flagged);
  if (flagged) {
    notice.textContent = "This does not look like any of the ten classes " +
      `(none-of-the-ten score ${percent.format(noneOfTheTen.score)}). The closest is ${closest}.`;
  }
}

// Bars in class order (0 T-shirt/top … 9 Ankle boot), so images compare at a glance; the answer is highlighted.
function drawBars(list, predictions, topId) {
  const byClass = [...predictions].sort((a, b) => a.label_id - b.label_id);
  list.replaceChildren(...byClass.map((p) => barRow(p, p.label_id === topId)));
  list.hidden = false;
}

function barRow(prediction, isTop) {
  const row = document.createElement("li");
  row.className = isTop ? "bar-row top" : "bar-row";
  row.dataset.labelId = String(prediction.label_id);
  const name = document.createElement("span");
  name.className = "bar-label";
  name.textContent = prediction.label;
  const track = document.createElement("span");
  track.className = "bar-track";
  track.setAttribute("aria-hidden", "true");
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = `${(prediction.probability * 100).toFixed(2)}%`; // CSSOM: allowed by the CSP
  track.append(bar);
  const value = document.createElement("span");
  value.className = "bar-value";
  value.textContent = percent.format(prediction.probability);
  row.append(name, track, value);
  return row;
}

// --- Talking to the API ---

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {}; // e.g. an HTML error page from a proxy in front of the service
  }
}

async function classify(file, card) {
  const form = new FormData();
  form.append("image", file, file.name || "pasted-image");
  form.append("top_k", String(ALL_CLASSES));
  form.append("debug", "true");
  let response;
  try {
    response = await fetch(PREDICT_URL, { method: "POST", body: form });
  } catch (error) {
    showError(card, `Could not reach the service (${error.message}).`);
    return;
  }
  const body = await readJson(response);
  if (!response.ok || body.status !== "ok") {
    showError(card, body.message || `The service answered ${response.status} ${response.statusText}.`);
    return;
  }
  showPrediction(card, body);
}

function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  clearButton.disabled = false;
  announce(`Classifying ${plural(files.length, "image")}…`);
  const cards = files.map(addCard);
  results.prepend(...cards); // the newest images on top, each batch in the order chosen
  // The browser queues the requests (a few per server at a time); each card fills in when its answer arrives.
  files.forEach((file, i) => classify(file, cards[i]).finally(summarise));
}

// --- Ways in: file picker, drag and drop anywhere on the page, paste ---

function hasFiles(event) {
  return Array.from(event.dataTransfer?.types || []).includes("Files");
}

// The input looks like a button, so Enter opens the picker too (Chromium opens a file input on Space only).
fileInput.addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault();
  fileInput.click();
});

fileInput.addEventListener("change", () => {
  addFiles(fileInput.files);
  fileInput.value = ""; // choosing the same file again classifies it again
});

document.addEventListener("dragover", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault(); // allows the drop (otherwise the browser would open the file)
  event.dataTransfer.dropEffect = "copy";
  dropZone.classList.add("drag-over");
});

document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) dropZone.classList.remove("drag-over");
});

document.addEventListener("drop", (event) => {
  dropZone.classList.remove("drag-over");
  if (!event.dataTransfer?.files.length) return;
  event.preventDefault();
  addFiles(event.dataTransfer.files);
});

document.addEventListener("paste", (event) => {
  const files = event.clipboardData?.files;
  if (!files?.length) return;
  event.preventDefault();
  addFiles(files);
});

clearButton.addEventListener("click", () => {
  results.replaceChildren();
  announce("Results cleared.");
  clearButton.disabled = true;
  fileInput.focus();
});
