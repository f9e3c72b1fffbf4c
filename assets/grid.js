/* Functions the CCG table (dash-ag-grid) calls by name, and the clientside callback that filters it. */
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

/* CSV cells that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) are written
   with a leading quote (OWASP, CSV injection); numbers are left alone. Same rule as geodata/csv_safe.py. */
dagfuncs.escapeCsvCell = function (params) {
  var v = params.value;
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(v)) {
    return "'" + v;
  }
  return v;
};

/* The rows are all in the page; the table callback sends the codes of the CCGs the view lists (the table-shown
   store), and AG Grid's external filter keeps those rows. Null until the first codes arrive: every row. */
var atlasShown = null;

dagfuncs.atlasTableFiltered = function () {
  return atlasShown !== null;
};

dagfuncs.atlasTableShows = function (node) {
  return atlasShown === null || (!!node.data && atlasShown.has(node.data.ccg_code));
};

/* The grid's scrolling region takes the keyboard focus (Tab reaches it; arrows then scroll it), as axe's
   scrollable-region-focusable asks; AG Grid's cells themselves are only reached through the header. Inside a
   role=grid only rows and row groups may take the focus, so the region becomes the body's one row group (named)
   and AG Grid's row groups inside it plain containers: each row is then in exactly one group. The horizontal
   scroll bar AG Grid hides from screen readers stays out of the Tab order (the rows' region scrolls sideways). */
function focusableScroller(root) {
  /* Every change below is made only when needed, so the observer's own changes end its work at once. */
  if (!root.__atlasRoles && 'MutationObserver' in window) {
    /* AG Grid sets its groups' aria-hidden again when columns move or resize (a phone's widths): redone then. */
    root.__atlasRoles = new MutationObserver(function () { focusableScroller(root); });
    root.__atlasRoles.observe(root, {subtree: true, attributes: true, attributeFilter: ['aria-hidden', 'role']});
  }
  root.querySelectorAll('.ag-body-viewport').forEach(function (el) {
    if (!el.hasAttribute('tabindex')) {
      el.setAttribute('tabindex', '0');
      el.setAttribute('aria-label', 'CCG table rows (scrollable)');
    }
    if (el.getAttribute('role') !== 'rowgroup') { el.setAttribute('role', 'rowgroup'); }
    el.querySelectorAll('[role=rowgroup], [role=presentation][aria-hidden]').forEach(function (group) {
      if (group.getAttribute('aria-hidden') === 'true') { return; }  /* hidden (no pinned columns): left alone */
      /* aria-hidden="false" is a global attribute: it would make the container a role again */
      if (group.hasAttribute('aria-hidden')) { group.removeAttribute('aria-hidden'); }
      if (group.getAttribute('role') !== 'presentation') { group.setAttribute('role', 'presentation'); }
    });
  });
}

/* On a phone (760 px or narrower) the CCG and its two levels share the screen's width, the rest scrolls beside
   them; again after the grid reloads its columns, until the reader resizes one (then it stays as they left it). */
var readerResized = false;
function fitPhone(api, root) {
  if (readerResized || window.innerWidth > 760) {
    return;
  }
  var w = Math.max(root.clientWidth - 4, 300);
  var ccg = Math.floor(w * 0.36), level = Math.floor((w - ccg) / 2);
  api.applyColumnState({state: [{colId: 'ccg_name', width: ccg}, {colId: 'level_2015_words', width: level},
                                {colId: 'level_2016_words', width: level}]});
}

/* The keyboard: the table is one Tab stop. Tab enters it (AG Grid's guard puts the focus on a header cell, or
   back on the cell last focused), the arrow keys move between its cells (AG Grid's own cell focus), and Tab or
   Shift+Tab leave it for the next or previous control outside the table (AG Grid would go from cell to cell: 463
   presses for London's table). Links inside cells are out of the Tab order (SourceLinks, below); Enter on a
   focused cell opens its first link, as a click would. */
var TABBABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), ' +
  'textarea:not([disabled]), summary, [tabindex]';

function tabbableOutside(grid, forward) {
  var all = Array.prototype.filter.call(document.querySelectorAll(TABBABLE), function (el) {
    if (el.tabIndex < 0 || grid.contains(el) || el.closest('[hidden], details:not([open]) > :not(summary)')) {
      return false;
    }
    var box = el.getBoundingClientRect();
    return (box.width > 0 || box.height > 0) && getComputedStyle(el).visibility !== 'hidden';
  });
  var after = all.filter(function (el) {
    return grid.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
  });
  var before = all.filter(function (el) {
    return grid.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING;
  });
  return forward ? after[0] : before[before.length - 1];
}

document.addEventListener('keydown', function (ev) {
  var grid = document.getElementById('ccg-table');
  if (!grid || !ev.target || !grid.contains(ev.target) || ev.altKey || ev.ctrlKey || ev.metaKey) {
    return;
  }
  if (ev.key === 'Tab') {
    /* Nothing to Tab to after the table: the place its skip link leads to (dashboard/page/layout.py), from which the
       next Tab goes on as the browser would. */
    var next = tabbableOutside(grid, !ev.shiftKey) || (ev.shiftKey ? null : document.getElementById('after-table'));
    if (next) {
      ev.preventDefault();
      ev.stopPropagation();
      next.focus();
    }
    return;
  }
  var cell = ev.key === 'Enter' && !ev.shiftKey && ev.target.closest('.ag-cell');
  var link = cell && cell.querySelector('a[href]');
  if (link) {
    ev.preventDefault();
    ev.stopPropagation();
    link.click();
  }
}, true);

/* After each (re)draw of the rows: the scrolling region focusable, the phone widths, and data-shown (how many
   CCGs the filter lets through, for a test or a script to wait on). */
function mark(api) {
  if (!api.__atlasHooked) {
    api.__atlasHooked = true;
    api.addEventListener('modelUpdated', function () { mark(api); });
    api.addEventListener('firstDataRendered', function () { mark(api); });
    api.addEventListener('newColumnsLoaded', function () { mark(api); });
    api.addEventListener('columnResized', function (e) {
      if (e.source === 'uiColumnResized' && e.finished) {
        readerResized = true;
      }
    });
  }
  var root = document.getElementById('ccg-table');
  if (!root || !(root.classList.contains('ag-root-wrapper') || root.querySelector('.ag-root-wrapper'))) {
    return;  /* the grid's own elements are not in the page yet: watchGrid (below) marks it when they arrive */
  }
  focusableScroller(root);
  fitPhone(api, root);
  root.dataset.shown = String(api.getDisplayedRowCount());
}

/* fn(api) once the grid exists. dash-ag-grid's getApiAsync gives up when the grid is slow to appear (the library
   and its AG Grid chunk load on demand, seconds on a busy machine), so ask again until it answers (for a minute). */
function withGrid(fn, started) {
  var grids = window.dash_ag_grid;
  started = started || Date.now();
  var again = function () {
    if (Date.now() - started < 60000) {
      setTimeout(function () { withGrid(fn, started); }, 200);
    }
  };
  if (!grids || !grids.getApiAsync) {
    again();
    return;
  }
  Promise.resolve(grids.getApiAsync('ccg-table')).then(function (api) {
    if (api) { fn(api); } else { again(); }
  }, again);
}

/* A text file for the reader to save (assets/export.js's download), with a byte-order mark so that spreadsheets
   read it as UTF-8. */
function saveText(text, name) {
  window.atlasSave(new Blob(['\ufeff' + text], {type: 'text/csv;charset=utf-8'}), name);
}

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  atlasTable: {
    /* The table-shown store changed: filter by its codes (the grid may load later: it reads them then). */
    show: function (shown) {
      var codes = shown && Array.isArray(shown.codes) ? shown.codes : null;
      atlasShown = codes ? new Set(codes) : null;
      withGrid(function (api) {
        api.onFilterChanged();
        mark(api);
      });
      return window.dash_clientside.no_update;
    },
    /* "Download CSV": the server's CSV of the view (/export.csv, the same rows as the ZIP and geodata export-csv;
       its URL is the button's data-href, kept in step with the view), saved named like the slide, with a
       byte-order mark for spreadsheets. Returns the click count once saved (data-exported on the button: a test
       or a script can wait on it). */
    exportCsv: function (n, href, params) {
      if (!n || !href) {
        return window.dash_clientside.no_update;
      }
      var name = (params && params.fileName) || 'ccg-cocommissioning-table.csv';
      return fetch(href, {credentials: 'same-origin'}).then(function (r) {
        if (!r.ok) {
          throw new Error('CSV download answered ' + r.status);
        }
        return r.text();
      }).then(function (csv) {
        saveText(csv, name);
        return String(n);
      }, function (err) {
        console.error(err);
        return window.dash_clientside.no_update;
      });
    }
  }
});

/* Sources as links: 'title (date) <https://...> | rule:...' (the atlas's source cells); the same split as
   geodata/table_export.split_sources. Text stays text (React escapes it); only http(s) URLs become links. */
dagcomponentfuncs.SourceLinks = function (props) {
  var h = window.React.createElement;
  var value = typeof props.value === 'string' ? props.value : '';
  var parts = value.split(' | ').filter(function (p) { return p; });
  var out = [];
  parts.forEach(function (part, i) {
    var m = part.match(/<(https?:\/\/[^>\s]+)>/);
    var text = part.replace(/<(https?:\/\/[^>\s]+)>/g, '').trim();
    if (i > 0) { out.push('; '); }
    if (m) {
      /* tabIndex -1: out of the Tab order (Enter on the focused cell opens it; see oneTabStop above). */
      out.push(h('a', {key: i, href: m[1], target: '_blank', rel: 'noopener noreferrer', tabIndex: -1},
                   text || m[1]));
    } else {
      out.push(text);
    }
  });
  return h('span', null, out.length ? out : 'none found');
};

/* A grid instance can be replaced after it was first filtered (Dash re-renders it once the library has loaded):
   each new instance, seen by its root element appearing, gets the filter and the marks above again. */
(function watchGrid() {
  var seen = null;
  var check = function () {
    var root = document.querySelector('#ccg-table .ag-root-wrapper');
    if (root && root !== seen) {
      seen = root;
      withGrid(function (api) {
        api.onFilterChanged();
        mark(api);
      });
    }
  };
  if ('MutationObserver' in window) {
    new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true});
  }
})();
