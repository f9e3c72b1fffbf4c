/* Cooperative gestures on touch screens: one finger on the map scrolls the page, two fingers move and zoom the map.
   Plotly's geo map (d3's zoom behaviour) would take every touch and trap a phone's visitor on the map. Single-finger
   touches on the map are kept from it (stopped in the capture phase, never cancelled, so the browser scrolls and a
   tap still clicks a CCG); a drag shows a short hint. Box or lasso select (chosen in the toolbar) keeps one finger. */
(function () {
  'use strict';
  if (!(navigator.maxTouchPoints > 0 || 'ontouchstart' in window)) { return; }
  document.documentElement.classList.add('touch-map');
  var hideTimer = null;

  /* The map's drawing area: its canvas and what lies over it (a hover label, the loading spinner that covers the
     map while a slow callback redraws it), not the toolbar or the legend, which take their own taps. */
  function onMap(ev) {
    var t = ev.target;
    var frame = t && t.closest && t.closest('.map-frame');
    return frame && !t.closest('.modebar, .legend') ? frame.querySelector('#ccg-map') : null;
  }
  function panning(graph) {
    var gd = graph.querySelector('.js-plotly-plot');
    var mode = gd && gd._fullLayout && gd._fullLayout.dragmode;
    return !mode || mode === 'pan';
  }
  function showHint() {
    var hint = document.getElementById('map-gesture-hint');
    if (!hint) { return; }
    hint.classList.add('shown');
    document.getElementById('ccg-map').dataset.gestureHint = String(Number(
      document.getElementById('ccg-map').dataset.gestureHint || 0) + 1);  /* a signal for tests and scripts */
    if (hideTimer) { clearTimeout(hideTimer); }
    hideTimer = setTimeout(function () { hint.classList.remove('shown'); }, 1600);
  }

  var start = null;
  function guard(ev) {
    var graph = onMap(ev);
    if (!graph || !panning(graph)) { return; }
    if (ev.touches.length === 1) {
      ev.stopPropagation();  /* the map never sees it; the browser scrolls (touch-action in style.css) */
      var t = ev.touches[0];
      if (ev.type === 'touchstart') {
        start = [t.clientX, t.clientY];
      } else if (start && Math.hypot(t.clientX - start[0], t.clientY - start[1]) > 12) {
        start = null;
        showHint();
      }
    }
  }
  document.addEventListener('touchstart', guard, {capture: true, passive: true});
  document.addEventListener('touchmove', guard, {capture: true, passive: true});

  /* Two fingers are the map's: the page must neither scroll nor zoom under them. A listener that may cancel touches
     makes the browser wait for it, so it sits on the map's frame only (found once Dash has rendered it), never on
     the whole document. */
  function keepTwoFingers(ev) {
    var graph = onMap(ev);
    if (graph && ev.touches.length > 1 && ev.cancelable) { ev.preventDefault(); }
  }
  function attach() {
    var frame = document.querySelector('.map-frame');
    if (!frame) { return false; }
    frame.addEventListener('touchstart', keepTwoFingers, {passive: false});
    frame.addEventListener('touchmove', keepTwoFingers, {passive: false});
    return true;
  }
  function watch() {
    if (attach()) { return; }
    var observer = new MutationObserver(function () { if (attach()) { observer.disconnect(); } });
    observer.observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', watch); } else { watch(); }
}());
