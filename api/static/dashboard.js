// hpadvisor dashboard: live job progress, plots, the trials table and job submission.
// No build step, no framework. Text from the server is set with textContent (never innerHTML),
// except HTML fragments rendered (and escaped) by our own templates.
"use strict";

(function () {
  const POLL_MS = 2000;
  const REFRESH_PLOTS_MS = 6000;

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (!isFinite(value)) return String(value);
    if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) {
      return value.toExponential(2).replace("e-", "e-").replace("e+", "e+");
    }
    return String(Number(value.toPrecision(4)));
  }

  function setText(name, text) {
    document.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      el.textContent = text;
    });
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  async function swapFragment(container, url) {
    const response = await fetch(url, { headers: { Accept: "text/html" } });
    if (response.ok) container.innerHTML = await response.text();  // our escaped template
  }

  // --- plots -----------------------------------------------------------------------------------

  async function drawPlot(div, trial) {
    let url = div.dataset.url;
    if (trial !== undefined && trial !== null && trial !== "") url += "?trial=" + encodeURIComponent(trial);
    const note = document.querySelector('[data-note="' + div.dataset.plot + '"]');
    try {
      const answer = await getJSON(url);
      if (answer.figure) {
        if (!div.dataset.drawn) div.textContent = "";
        const layout = Object.assign({}, answer.figure.layout || {}, { autosize: true });
        await window.Plotly.react(div, answer.figure.data || [], layout,
                                  { responsive: true, displaylogo: false });
        div.dataset.drawn = "1";
      } else {
        if (div.dataset.drawn) window.Plotly.purge(div);
        delete div.dataset.drawn;
        const p = document.createElement("p");
        p.className = "muted";
        p.textContent = answer.message || "Nothing to show yet.";
        div.replaceChildren(p);
      }
      if (note) note.textContent = answer.note || "";
    } catch (error) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = "Could not load this plot (" + error.message + ").";
      div.replaceChildren(p);
    }
  }

  // plotly.js (4.6 MB, served by this app) is loaded after the page has painted.
  let plotly = null;
  function loadPlotly() {
    if (!plotly) {
      plotly = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = "/static/plotly.min.js";
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return plotly;
  }

  function chosenTrial() {
    const input = document.querySelector('[data-role="curves-form"] input[name="trial"]');
    return input ? input.value : document.body.dataset.chosenTrial;
  }

  function drawAll() {
    const divs = Array.from(document.querySelectorAll(".plot[data-plot]"));
    return Promise.all(divs.map(function (div) {
      return drawPlot(div, div.dataset.plot === "curves" ? chosenTrial() : undefined);
    }));
  }

  function showCurves(number) {
    const input = document.querySelector('[data-role="curves-form"] input[name="trial"]');
    if (input) input.value = number;
    const div = document.querySelector('.plot[data-plot="curves"]');
    if (div) {
      loadPlotly().then(function () { drawPlot(div, number); });
      div.closest("figure").scrollIntoView({ behavior: "smooth", block: "center" });
    }
  }

  // --- the trials table ------------------------------------------------------------------------

  function wireTrials(container) {
    container.addEventListener("click", function (event) {
      const link = event.target.closest("a[data-fragment]");
      if (link) {
        event.preventDefault();
        container.dataset.current = link.dataset.fragment;
        swapFragment(container, link.dataset.fragment);
        history.replaceState(null, "", link.getAttribute("href"));
        return;
      }
      const button = event.target.closest("button[data-show-curves]");
      if (button) showCurves(button.dataset.showCurves);
    });
  }

  // --- the job page: poll the summary, refresh what changed --------------------------------------

  function render(summary) {
    setText("state", summary.state);
    document.querySelectorAll('[data-field="state"]').forEach(function (el) {
      el.className = "badge state-" + summary.state;
    });
    const pct = summary.n_trials ? Math.min(100, 100 * summary.done / summary.n_trials) : 0;
    document.querySelectorAll('[data-field="bar"]').forEach(function (el) {
      el.style.width = pct.toFixed(1) + "%";
      el.parentElement.setAttribute("aria-valuenow", String(summary.done));
    });
    setText("done", String(summary.done));
    setText("complete", String(summary.counts.complete));
    setText("pruned", String(summary.counts.pruned));
    setText("fail", String(summary.counts.fail));
    setText("best", summary.best ? fmt(summary.best.value) : "–");
    setText("best-trial", summary.best ? "trial " + summary.best.number : "");
    const a = summary.advisor;
    setText("rank", a ? (a.rank ? a.rank + " of " + a.of : a.state) : "–");
    const p = summary.progress || {};
    let now;
    if (summary.final) {
      now = summary.state === "succeeded" ? "Finished." : "Job " + summary.state + ".";
    } else if (summary.waiting) {
      now = summary.waiting.charAt(0).toUpperCase() + summary.waiting.slice(1) + ".";
    } else if (p.decoding) {
      now = "Decoding the images once before training: " + p.decoding.done + "/" +
        p.decoding.total + " (" + p.decoding.images_per_s + " images/s).";
    } else if (p.trial_number !== undefined && p.epoch !== undefined) {
      now = "Running trial " + p.trial_number + " (" + p.trial + "/" + p.n_trials + ")" +
        (p.slot ? " on " + p.slot : "") + ", epoch " +
        p.epoch + "/" + p.epochs + ": validation " + fmt(p.value) + ".";
    } else {
      now = "Waiting for a worker.";
    }
    setText("now", now);
  }

  function jobPage() {
    const id = document.body.dataset.jobId;
    const outcome = document.getElementById("outcome");
    const trials = document.getElementById("trials");
    wireTrials(trials);
    const form = document.querySelector('[data-role="curves-form"]');
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        showCurves(form.elements.trial.value);
      });
    }
    loadPlotly().then(drawAll);
    if (document.body.dataset.final === "true") return;

    let last = null;
    let lastPlots = Date.now();
    async function poll() {
      let summary;
      try {
        summary = await getJSON("/jobs/" + id + "/summary");
      } catch (error) {
        setTimeout(poll, POLL_MS * 2);
        return;
      }
      render(summary);
      const key = [summary.done, summary.counts.running, summary.best && summary.best.number,
                   summary.state].join("/");
      if (key !== last) {
        const changedTrials = last !== null;
        last = key;
        if (changedTrials) {
          swapFragment(outcome, outcome.dataset.url);
          swapFragment(trials, trials.dataset.current || trials.dataset.url);
          if (summary.final || Date.now() - lastPlots > REFRESH_PLOTS_MS) {
            lastPlots = Date.now();
            loadPlotly().then(drawAll);
          }
        }
      }
      if (!summary.final) setTimeout(poll, POLL_MS);
      else document.body.dataset.final = "true";
    }
    setTimeout(poll, POLL_MS);
  }

  // --- the recommend page: submit the profile as a tuning job ----------------------------------

  function recommendPage() {
    const form = document.querySelector('[data-role="job-form"]');
    if (!form) return;
    const message = form.querySelector('[data-role="job-message"]');
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const fields = form.elements;
      const training = Object.assign({}, JSON.parse(fields.training.value || "{}"));
      training.epochs = Number(fields.epochs.value);
      training.batch_size = Number(fields.batch_size.value);
      delete training.num_gpus;
      const tune = Array.from(form.querySelectorAll('input[name="tune"]:checked'))
        .map(function (box) { return box.value; });
      const body = {
        objective: "image-classification", dataset: fields.dataset.value,
        model: { name: fields.model.value }, training: training,
        n_trials: Number(fields.n_trials.value), sampler: fields.sampler.value,
        pruner: fields.pruner.value, tune: tune.length ? tune : null,
      };
      const headers = { "Content-Type": "application/json" };
      if (fields.api_key && fields.api_key.value) {
        headers.Authorization = "Bearer " + fields.api_key.value;
      }
      message.className = "form-message";
      message.textContent = "Submitting…";
      try {
        const response = await fetch("/v1/jobs", { method: "POST", headers: headers,
                                                   body: JSON.stringify(body) });
        const answer = await response.json().catch(function () { return {}; });
        if (response.status === 201) {
          message.textContent = "Job " + answer.id + " created.";
          window.location.assign("/jobs/" + answer.id);
          return;
        }
        const details = Array.isArray(answer.detail) ? answer.detail : [{ msg: String(answer.detail) }];
        message.className = "form-message error";
        message.textContent = details.map(function (d) {
          return (d.loc ? d.loc.filter(function (part) { return part !== "body"; }).join(".") + ": " : "") + d.msg;
        }).join("; ");
      } catch (error) {
        message.className = "form-message error";
        message.textContent = "The service could not be reached: " + error.message;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const page = document.body.dataset.page;
    if (page === "job") jobPage();
    if (page === "recommend") recommendPage();
  });
})();
