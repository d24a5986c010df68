// One personalization run as the views show it (Personalize from a file, and the operator's
// queue): the progress bar, the list of steps, and the question a card issued before asks.

import { $, capitalize, setStatus } from '../core/dom.js';

// Personalizes the card in `reader` with the opened VSC (consumed) through `bridge`; resolves
// to the wasm PinMailer once verified, rejects with a coded error otherwise. `ui` holds the
// `progress`, `steps` and `status` elements and `confirmNewPin(question)`, and `card`, a
// CardSession of that reader opened ahead (`bridge.connectCard`, consumed), if any.
export async function runPersonalization(bridge, opened, reader, ui) {
  const { progress, steps, status } = ui;
  progress.hidden = false;
  progress.value = 0;
  steps.replaceChildren();
  setStatus(status, 'Personalizing… keep the card in the reader.');
  const onProgress = (report) => {
    progress.max = Math.max(report.apdusPlanned, 1);
    progress.value = report.apdusDone;
    steps.replaceChildren(...report.steps.map((label, i) => {
      const item = document.createElement('li');
      const current = i === report.steps.length - 1;
      item.textContent = label;
      item.className = current ? 'current' : 'done';
      if (current) item.setAttribute('aria-current', 'step');
      return item;
    }));
  };
  try {
    const mailer = await (ui.card
      ? bridge.personalizeCard(opened, ui.card, onProgress, ui.confirmNewPin)
      : bridge.personalize(opened, reader, onProgress, ui.confirmNewPin));
    for (const item of steps.children) item.className = 'done';
    progress.value = progress.max;
    return mailer;
  } catch (error) {
    steps.lastElementChild?.classList.replace('current', 'failed');
    progress.hidden = true;
    throw error;
  }
}

// The step that failed, as the list shows it (for a failure report).
export function failedStep(steps) {
  const item = steps.querySelector('li.failed') || steps.lastElementChild;
  return item ? item.textContent : 'before the first step';
}

// The engine's question for a card this VSC already personalized: a modal dialog, answered
// with "Set a new PIN" or "Cancel" (Escape too).
export function askNewPin(question) {
  const dialog = $('#new-pin-dialog');
  $('#new-pin-text').textContent = capitalize(question.text);
  return new Promise((resolve) => {
    const finish = (answer) => {
      $('#new-pin-yes').onclick = null;
      $('#new-pin-no').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $('#new-pin-yes').onclick = () => finish(true);
    $('#new-pin-no').onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    dialog.showModal();
    $('#new-pin-no').focus();
  });
}
