/* On a phone (760 px or narrower, as style.css) a CCG tapped on the map shows its details far below the map: once
   the details panel (#ccg-details) holds the tapped CCG's card (data-ccg, dashboard/page/components.py details_panel),
   scroll that card into view. Only after a tap on the map (mapfit.js counts clicks on the graph in data-clicks and
   keeps the CCG in data-last-click), not after a search or on a shared link; a tap that unselects adds no card, so
   nothing moves. The panel's data-scrolled counts the scrolls: a signal for tests and scripts. */
(function () {
  'use strict';
  var PHONE = '(max-width: 760px)';
  var seenClicks = 0;
  var pending = null;  /* {code, until}: the tapped CCG whose card is awaited */

  function check() {
    var graph = document.getElementById('ccg-map');
    var panel = document.getElementById('ccg-details');
    if (!graph || !panel) { return; }
    var clicks = Number(graph.dataset.clicks || 0);
    if (clicks !== seenClicks) {
      seenClicks = clicks;
      var code = graph.dataset.lastClick || '';
      pending = code && window.matchMedia(PHONE).matches ? {code: code, until: Date.now() + 15000} : null;
    }
    if (!pending) { return; }
    if (Date.now() > pending.until) { pending = null; return; }
    var card = panel.querySelector('.ccg-card[data-ccg="' + pending.code + '"]');
    if (!card) { return; }
    pending = null;
    var reduce = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    card.scrollIntoView({block: 'start', behavior: reduce ? 'auto' : 'smooth'});
    panel.dataset.scrolled = String(Number(panel.dataset.scrolled || 0) + 1);
  }

  function start() {
    new MutationObserver(check).observe(document.body, {childList: true, subtree: true, attributes: true,
                                                        attributeFilter: ['data-clicks']});
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
