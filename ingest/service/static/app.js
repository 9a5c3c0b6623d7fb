// ingest serve: keep the runs and their progress bars current, and send the forms with the bearer token.
// Everything shown comes from the API as text (textContent), or as HTML the server rendered and escaped.
"use strict";

const POLL_MS = 1000;
const TOKEN_KEY = "ingest-token";

function folderQuery(separator) {
  const folder = document.body.dataset.folder;
  return folder && folder !== "0" ? `${separator}folder=${folder}` : "";
}

function countsText(c) {
  return `${c.processed} processed, ${c.skipped} skipped, ${c.failed} failed, ${c.empty} empty, ` +
    `${c.deleted} deleted; ${c.pages} pages, ${c.chunks} chunks`;
}

function fill(root, run) {
  const set = (name, value) => root.querySelectorAll(`[data-field="${name}"]`).forEach((el) => {
    el.textContent = value;
  });
  set("status", run.status);
  root.querySelectorAll('[data-field="status"]').forEach((el) => { el.className = `status ${run.status}`; });
  const total = run.documents.total;
  root.querySelectorAll('[data-field="bar"]').forEach((bar) => {
    bar.max = total || 1;
    bar.value = total ? run.documents.done : (run.status === "done" ? 1 : 0);
  });
  set("fraction", `${run.documents.done} / ${total === null ? "?" : total}`);
  set("counts", countsText(run.counts));
  set("started_at", run.started_at || "");
  set("ended_at", run.ended_at || "");
  set("error", run.error || "");
}

function runRow(run) {
  const row = document.createElement("tr");
  row.dataset.runId = run.run_id;
  const cell = (child) => { const td = document.createElement("td"); if (child) td.append(child); row.append(td); return td; };
  const link = document.createElement("a");
  link.href = `/runs/${run.run_id}${folderQuery("?")}`;
  link.textContent = run.run_id;
  cell(link);
  const status = document.createElement("span");
  status.dataset.field = "status";
  cell(status);
  cell(document.createTextNode(run.source)).className = "key";
  const bar = document.createElement("progress");
  bar.dataset.field = "bar";
  const fraction = document.createElement("span");
  fraction.dataset.field = "fraction";
  const progress = cell(bar);
  progress.className = "progress";
  progress.append(" ", fraction);
  const counts = document.createElement("span");
  counts.dataset.field = "counts";
  cell(counts);
  cell().dataset.field = "started_at";
  cell().dataset.field = "ended_at";
  fill(row, run);
  return row;
}

async function pollRuns() {
  const body = document.querySelector("#runs tbody");
  try {
    const answer = await fetch(`/api/runs?per_page=20${folderQuery("&")}`, { cache: "no-store" });
    if (answer.ok) {
      const { runs } = await answer.json();
      const rows = new Map([...body.querySelectorAll("tr[data-run-id]")].map((row) => [row.dataset.runId, row]));
      const current = runs.map((run) => {
        const row = rows.get(String(run.run_id));
        if (!row) return runRow(run);
        fill(row, run);
        return row;
      });
      if (current.length) body.replaceChildren(...current); // rows kept in place; new runs on top
    }
  } finally {
    setTimeout(pollRuns, POLL_MS);
  }
}

async function pollRun(runId, last) {
  let status = last;
  try {
    const answer = await fetch(`/api/runs/${runId}${folderQuery("?")}`, { cache: "no-store" });
    if (answer.ok) {
      const run = await answer.json();
      fill(document.body, run);
      const key = `${run.status}:${run.documents.done}`;
      if (key !== last) {
        const docs = await fetch(`/runs/${runId}/documents${folderQuery("?")}`, { cache: "no-store" });
        if (docs.ok) document.querySelector("#documents tbody").innerHTML = await docs.text();
      }
      status = key;
      if (run.status === "done" || run.status === "failed") return;
    }
  } catch (error) {
    // the server restarts or the network drops: try again
  }
  setTimeout(() => pollRun(runId, status), POLL_MS);
}

function tokenField(form) {
  const field = form.elements.token;
  field.value = sessionStorage.getItem(TOKEN_KEY) || "";
  return field;
}

async function send(form, url, body, message) {
  const token = form.elements.token.value;
  sessionStorage.setItem(TOKEN_KEY, token);
  const headers = { Authorization: `Bearer ${token}` };
  if (typeof body === "string") headers["Content-Type"] = "application/json";
  message.textContent = "Sending...";
  try {
    const answer = await fetch(url, { method: "POST", headers, body });
    const reply = await answer.json();
    if (answer.ok) {
      message.textContent = `Run ${reply.run_id} queued.`;
    } else {
      message.textContent = `Refused (${answer.status}): ${reply.error}`;
    }
  } catch (error) {
    message.textContent = `Not sent: ${error}`;
  }
}

function startForm(form) {
  tokenField(form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    if (form.elements.source.value.trim()) body.source = form.elements.source.value.trim();
    if (form.elements.strategy.value) body.strategy = form.elements.strategy.value;
    if (form.elements.reprocess.checked) body.reprocess = true;
    send(form, "/api/runs", JSON.stringify(body), form.querySelector('[data-field="message"]'));
  });
}

function uploadForm(form) {
  tokenField(form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData();
    for (const file of form.elements.files.files) body.append("files", file, file.name);
    send(form, "/api/uploads", body, form.querySelector('[data-field="message"]'));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "index") {
    startForm(document.getElementById("start-run"));
    const upload = document.getElementById("upload");
    if (upload) uploadForm(upload);
    setTimeout(pollRuns, POLL_MS);
  } else if (page === "run") {
    pollRun(document.body.dataset.runId, null);
  }
});
