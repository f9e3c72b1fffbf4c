/* Printing the page: the print shows the view's slide image in place of the live map (an <img id="print-map">,
   hidden on screen), and the statistics' headline findings. It costs nothing until a print: the image's src is
   empty until then, and is filled by printMapSrc from the slide link the server built for the view.
   - "Print this view" (#print-view) and Ctrl/Cmd+P fill the src and ask for the statistics if they were never seen
     (assets/stats.js), wait until both have arrived, then print, so the print always has its map and findings (the
     button's data-printed counts prints started: a signal for tests and scripts).
   - The browser's own menu fires beforeprint: the src is filled there too (the image shows if it arrives in time). */
(function () {
  'use strict';

  /* The slide of the view the page shows: the "Open slide in a new tab" link's URL, which the server builds for the
     view (dashboard/urls.py slide_url) and keeps in step with it; the page's own query if the link is missing. */
  function printMapSrc() {
    var link = document.getElementById('export-link');
    var href = link && link.getAttribute('href');
    return href && href.indexOf('?') > 0 ? href : '/export.png' + window.location.search;
  }

  /* The print image and the headline findings of the current view; resolves once both are in. */
  function preparePrintMap() {
    /* The statistics are worked out only when seen (assets/stats.js): asked for here if they were not. */
    var findings = window.atlasStats ? window.atlasStats.ready().then(fillFindings) : Promise.resolve(fillFindings());
    return Promise.all([findings, prepareImage()]);
  }

  /* Point the print image at the current view; resolves once it has loaded (or failed: print anyway). */
  function prepareImage() {
    var img = document.getElementById('print-map');
    if (!img) { return Promise.resolve(); }
    var want = new URL(printMapSrc(), window.location.href).href;
    /* Eager: the image is hidden on screen, and a lazy one waits to be on screen, i.e. would not load for a print.
       Nothing loads before a print anyway: the src stays empty until then. */
    img.loading = 'eager';
    if (img.src !== want) {
      img.src = want;
      img.dataset.view = window.location.search;
    }
    if (img.complete) { return Promise.resolve(); }  /* loaded (or failed) already: nothing more will come */
    return new Promise(function (done) {
      img.addEventListener('load', done, {once: true});
      img.addEventListener('error', done, {once: true});
    });
  }

  /* The headline findings for the printed first page: the first reading under each of the statistics' questions
     (#clustering's headings), as text, into #print-findings (print only). */
  function fillFindings() {
    var box = document.getElementById('print-findings');
    var panel = document.getElementById('clustering');
    if (!box || !panel) { return; }
    var items = [];
    panel.querySelectorAll('h3').forEach(function (h) {
      var el = h.nextElementSibling;
      while (el && el.tagName !== 'H3' && !(el.classList && el.classList.contains('reading'))) {
        el = el.nextElementSibling;
      }
      if (el && el.tagName !== 'H3') { items.push(el.textContent); }
    });
    box.textContent = '';
    if (!items.length) { return; }
    var head = document.createElement('h2');
    head.textContent = 'Headline findings';
    var list = document.createElement('ul');
    items.forEach(function (text) {
      var li = document.createElement('li');
      li.textContent = text;
      list.appendChild(li);
    });
    box.appendChild(head);
    box.appendChild(list);
  }

  function printView() {
    var button = document.getElementById('print-view');
    if (button) { button.setAttribute('aria-busy', 'true'); }
    return preparePrintMap().then(function () {
      if (button) {
        button.removeAttribute('aria-busy');
        button.dataset.printed = String(Number(button.dataset.printed || 0) + 1);
      }
      window.print();
    });
  }

  window.addEventListener('beforeprint', function () { preparePrintMap(); });
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t && t.closest && t.closest('#print-view')) {
      ev.preventDefault();
      printView();
    }
  });
  document.addEventListener('keydown', function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.shiftKey && (ev.key === 'p' || ev.key === 'P')) {
      ev.preventDefault();
      printView();
    }
  });
  window.atlasPrint = {src: printMapSrc, prepare: preparePrintMap, print: printView};
}());
