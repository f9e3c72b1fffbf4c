/* "Download slide (PNG)" (#export-png): fetch the slide here instead of letting the browser follow the link, so
   a refusal is shown rather than lost. The server renders slides from a bounded queue and answers 503 with a
   short text and Retry-After when it is full (dashboard/slides/render.py ExportQueue); a plain link would then save that
   text as a broken "png" or do nothing visible. On success the PNG is saved under the link's download name.

   The message goes into an element created next to the link, with role="status" (read out by screen readers).
   Same origin only, no inline script, no eval: it runs under the page's Content-Security-Policy. A click with a
   modifier key (new tab or window) is left to the browser. */
(function () {
  'use strict';

  var STATUS_ID = 'export-png-status';

  function statusFor(link) {
    var el = document.getElementById(STATUS_ID);
    if (!el) {
      el = document.createElement('span');
      el.id = STATUS_ID;
      el.setAttribute('role', 'status');
      el.setAttribute('aria-live', 'polite');
      el.className = 'export-status';
      el.style.marginLeft = '0.5em';
      el.style.fontSize = '0.9em';
    }
    if (el.previousElementSibling !== link) {
      link.insertAdjacentElement('afterend', el);
    }
    return el;
  }

  function show(link, state, text) {
    var el = statusFor(link);
    el.dataset.state = state;
    el.textContent = text;
  }

  /* Shared with grid.js (the table's CSV): a blob saved under a name, as a download. */
  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
  }

  window.atlasSave = save;

  function refusal(resp, text) {
    var message = (text || '').trim().slice(0, 300) || ('The server answered ' + resp.status + '.');
    var retry = resp.headers.get('Retry-After');
    if (retry && /^\d+$/.test(retry.trim()) && !/try again/i.test(message)) {
      message += ' Try again in ' + retry.trim() + ' s.';
    }
    return message;
  }

  function download(link) {
    if (link.getAttribute('aria-busy') === 'true') {
      return;  // one download at a time: a second click while waiting would only queue the same slide again
    }
    var name = link.getAttribute('download') || 'ccg-cocommissioning.png';
    link.setAttribute('aria-busy', 'true');
    show(link, 'busy', 'Preparing the slide\u2026');
    fetch(link.href, { credentials: 'same-origin', headers: { Accept: 'image/png' } })
      .then(function (resp) {
        if (resp.ok) {
          return resp.blob().then(function (blob) {
            save(blob, name);
            show(link, 'ok', 'Slide downloaded.');
          });
        }
        return resp.text().then(function (text) {
          show(link, resp.status === 503 ? 'busy-refused' : 'error', refusal(resp, text));
        });
      })
      .catch(function (err) {
        show(link, 'error', 'The slide could not be downloaded (' + (err && err.message ? err.message : 'network error') + ').');
      })
      .then(function () {
        link.removeAttribute('aria-busy');
      });
  }

  document.addEventListener('click', function (event) {
    var target = event.target;
    var link = target && target.closest ? target.closest('#export-png') : null;
    if (!link || !link.href || event.defaultPrevented) {
      return;
    }
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    if (!window.fetch || !window.URL || !URL.createObjectURL) {
      return;  // an old browser follows the link as before
    }
    event.preventDefault();
    download(link);
  });
})();
