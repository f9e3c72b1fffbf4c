/* The statistics (#statistics: the clustering panel, its robustness over the unknown levels, the prior check) are
   worked out by the server only for a reader who can see them: a view's robustness check costs a few hundred
   milliseconds of server CPU, the rest of a filter change about forty. This file tells the page whether the
   statistics are open and on, or near, the screen (the store stats-seen); the clientside callback forward then
   passes the view on to the statistics' callbacks (the store stats-view) while they are seen, and from the moment
   they come into sight, so a reader always sees the statistics of the view the page shows.
   - Watched from the reader's first scroll, key, tap or toggle, or once the charts above are drawn (the page then
     has its full length): before that the page is short and the statistics would count as near on every load.
   - #statistics carries data-pending ("1" while the page's view waits for the reader to reach the statistics),
     data-asked (how many views were passed on) and data-done (set by the server's clustering callback: the count
     it answered). Nothing pending and asked equal to done means the panels show the page's view: the signal for
     printing (assets/print.js: atlasStats.ready) and for scripts that drive the page. */
(function () {
  'use strict';
  var MARGIN = '0px 0px 25% 0px';  /* "near": on the screen or within a quarter screen below it */
  var seen = false;
  var forced = false;

  function tell(value) {
    if (value === seen || !window.dash_clientside || !window.dash_clientside.set_props) { return; }
    seen = value;
    window.dash_clientside.set_props('stats-seen', {data: value});
  }

  var near = false;
  var io = null;
  function details() { return document.getElementById('statistics'); }
  function update() {
    var d = details();
    tell(forced || (!!d && d.open && near));
  }
  function watch() {
    var d = details();
    if (io || !d || !('IntersectionObserver' in window)) {
      if (!('IntersectionObserver' in window)) { near = true; update(); }
      return;
    }
    io = new IntersectionObserver(function (entries) {
      near = entries[entries.length - 1].isIntersecting;
      update();
    }, {rootMargin: MARGIN});
    io.observe(d);
    d.addEventListener('toggle', update);
  }

  function start() {
    window.addEventListener('scroll', watch, {once: true, passive: true});
    window.addEventListener('keydown', watch, {once: true});
    window.addEventListener('pointerdown', watch, {once: true, passive: true});
    document.addEventListener('toggle', function (ev) {
      if (ev.target && ev.target.id === 'statistics') { watch(); update(); }
    }, true);
    var drawn = function () {
      return !!details() && !!document.querySelector('#level-summary table') && ['#team-chart', '#imd-chart',
        '#size-chart'].every(function (s) { return !!document.querySelector(s + ' .main-svg'); });
    };
    if (drawn()) { watch(); return; }
    if (!('MutationObserver' in window)) { watch(); return; }
    var mo = new MutationObserver(function () {
      if (drawn()) { mo.disconnect(); watch(); }
    });
    mo.observe(document.body, {childList: true, subtree: true});
  }

  /* Resolves once the statistics show the page's view (data-done equals data-asked), asking for them first if they
     were never seen: printing needs the headline findings whether or not the reader scrolled to them. */
  function ready() {
    var d = details();
    if (!d) { return Promise.resolve(); }
    var shows = function () {
      return !d.dataset.pending && !!d.dataset.asked && d.dataset.asked === d.dataset.done;
    };
    if (shows()) { return Promise.resolve(); }
    forced = true;
    update();
    return new Promise(function (done) {
      var mo = new MutationObserver(function () {
        if (shows()) { mo.disconnect(); forced = false; update(); done(); }
      });
      mo.observe(d, {attributes: true, attributeFilter: ['data-asked', 'data-done', 'data-pending']});
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
  window.atlasStats = {ready: ready};
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    atlasStats: {
      /* The view, passed on to the statistics' callbacks while they are seen and when it differs from the one they
         were last given: {view, n}, n counting the views passed on (also written to #statistics data-asked). */
      forward: function (view, isSeen, given) {
        var skip = window.dash_clientside.no_update;
        if (!view) { return [skip, skip, skip]; }
        if (given && JSON.stringify(given.view) === JSON.stringify(view)) { return [skip, skip, ''];  }
        if (!isSeen) { return [skip, skip, '1']; }  /* data-pending: the page's view waits for the reader */
        var n = ((given && given.n) || 0) + 1;
        return [{view: view, n: n}, String(n), ''];
      }
    }
  });
}());
