/* Names and roles that Dash 4's rendered controls lack, added to the DOM they render (no Dash code is changed).
   A MutationObserver applies them whenever React renders or re-renders a control, so no timer is involved:
   - RadioItems/Checklist render a role="listbox" of role="option" labels around real radio/checkbox inputs,
     which axe-core reports as unnamed fields and nested interactive controls. The inputs are the controls: the
     container becomes a named radiogroup (or group) and the labels plain labels again.
   - Dropdowns put the keyboard focus on a hidden input that forwards it to the button (aria-hidden-focus):
     the button itself takes the focus, named by the control's label and its value.
   - The range slider's handles and number boxes say which end of the deprivation range they set.
   - Plotly's toolbar buttons ("Reset view", "Download plot as a PNG") are named after their chart, so no two
     controls on the page share a name while doing different things.
   - The filters and the statistics start closed on a phone, so a shared link shows its map first. */
(function () {
  'use strict';
  var PHONE = '(max-width: 760px)';
  var SLIDER_NAMES = {
    'imd-range': ['Deprivation quintile from (1 = most deprived)', 'Deprivation quintile to (5 = least deprived)']
  };

  function set(el, name, value) {
    if (el.getAttribute(name) !== value) { el.setAttribute(name, value); }
  }
  function unset(el, name) {
    if (el.hasAttribute(name)) { el.removeAttribute(name); }
  }

  function fixOptionLists(root) {
    /* Only RadioItems and Checklist: a Dropdown's open list is a real listbox of options and stays one. */
    var lists = '.dash-options-list.dash-radioitems, .dash-options-list.dash-checklist';
    root.querySelectorAll(lists).forEach(function (list) {
      set(list, 'role', list.classList.contains('dash-radioitems') ? 'radiogroup' : 'group');
      if (list.id && document.getElementById(list.id + '-label')) {
        set(list, 'aria-labelledby', list.id + '-label');
      } else if (list.id === 'show-clusters') {
        set(list, 'aria-label', 'Map overlay');
      }
      list.querySelectorAll('.dash-options-list-option').forEach(function (option) {
        unset(option, 'role');
        unset(option, 'aria-selected');
      });
    });
  }

  function fixDropdowns(root) {
    root.querySelectorAll('.dash-dropdown-wrapper').forEach(function (wrap) {
      var target = wrap.querySelector(':scope > .dash-dropdown-focus-target');
      var button = wrap.querySelector(':scope > button.dash-dropdown');
      if (!target || !button) { return; }
      set(target, 'tabindex', '-1');
      if (!button.disabled) { set(button, 'tabindex', '0'); }
      var label = button.id && document.getElementById(button.id + '-label');
      var named = button.getAttribute('aria-labelledby') || '';
      if (label && named.split(' ')[0] !== label.id) {
        set(button, 'aria-labelledby', (label.id + ' ' + named).trim());
      }
    });
  }

  function fixSliders(root) {
    Object.keys(SLIDER_NAMES).forEach(function (id) {
      var slider = root.querySelector('#' + id);
      if (!slider) { return; }
      var names = SLIDER_NAMES[id];
      slider.querySelectorAll('[role="slider"]').forEach(function (thumb, i) {
        set(thumb, 'aria-label', names[Math.min(i, names.length - 1)]);
      });
      var min = slider.querySelector('.dash-range-slider-min-input');
      var max = slider.querySelector('.dash-range-slider-max-input');
      if (min) { set(min, 'aria-label', names[0]); }
      if (max) { set(max, 'aria-label', names[1]); }
    });
  }

  function fixToolbars(root) {
    root.querySelectorAll('.modebar-btn[data-title]').forEach(function (btn) {
      var owner = btn.closest('[data-a11y-name]');
      if (owner) { set(btn, 'aria-label', owner.getAttribute('data-a11y-name') + ': ' + btn.getAttribute('data-title')); }
    });
  }

  /* The filters and the statistics (dashboard/page/layout.py statistics) start folded on a phone, once each. */
  function foldOnPhone() {
    ['filters', 'statistics'].forEach(function (id) {
      var details = document.getElementById(id);
      if (!details || details.dataset.folded) { return; }
      details.dataset.folded = '1';
      if (window.matchMedia(PHONE).matches) { details.open = false; }
    });
  }

  var queued = false;
  function fixAll() {
    queued = false;
    fixOptionLists(document);
    fixDropdowns(document);
    fixSliders(document);
    fixToolbars(document);
    foldOnPhone();
  }
  function queue() {
    if (!queued) { queued = true; window.requestAnimationFrame(fixAll); }
  }

  function start() {
    fixAll();
    new MutationObserver(queue).observe(document.body, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ['role', 'aria-selected', 'tabindex', 'aria-label', 'aria-labelledby']
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
