/* The CCG table's library (dash-ag-grid, about 600 kB compressed with its AG Grid chunk) is not in the page:
   until the table comes near the screen, window.dash_ag_grid.AgGrid is this stand-in, which then loads the
   library (served by Dash; dashboard/dash_internals.load_on_demand keeps it out of the page) and renders the
   real grid with the same props. If the library is in the page after all, the stand-in is not installed. */
(function () {
  if (window.dash_ag_grid) {
    return;
  }
  var SRC = '/_dash-component-suites/dash_ag_grid/dash_ag_grid.min.js';
  var stub = {};
  var loading = null;
  var loaded = null;
  var ready = new Promise(function (resolve) { loaded = resolve; });
  var realLib = null;
  /* Once loaded, the library's AgGrid is kept here and window.dash_ag_grid.AgGrid stays the stand-in: were it
     swapped, Dash's next render would see another component type there and mount a second grid. */
  var real = function () {
    if (realLib) {
      return realLib;
    }
    var lib = window.dash_ag_grid;
    if (lib && lib !== stub && lib.AgGrid && lib.AgGrid !== LazyAgGrid) {
      realLib = {AgGrid: lib.AgGrid, getApiAsync: lib.getApiAsync, getApi: lib.getApi};
      Object.keys(lib.AgGrid).forEach(function (k) {
        if (k !== 'defaultProps' && k !== 'propTypes' && !(k in LazyAgGrid)) {
          LazyAgGrid[k] = lib.AgGrid[k];
        }
      });
      lib.AgGrid = LazyAgGrid;
    }
    return realLib;
  };
  var load = function () {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var s = document.createElement('script');
        s.src = SRC;
        s.async = true;
        s.onload = function () {
          if (real()) {
            resolve(real());
            loaded(real());
          } else {
            reject(new Error('dash-ag-grid did not load'));
          }
        };
        s.onerror = reject;
        document.head.appendChild(s);
      });
    }
    return loading;
  };

  function LazyAgGrid(props) {
    var React = window.React;
    var lib = real();
    var state = React.useState(lib ? lib.AgGrid : null);
    var Grid = state[0], setGrid = state[1];
    var ref = React.useRef(null);
    React.useEffect(function () {
      if (Grid) {
        return undefined;
      }
      var go = function () { load().then(function (l) { setGrid(function () { return l.AgGrid; }); }); };
      if (!('IntersectionObserver' in window) || !ref.current) {
        go();
        return undefined;
      }
      /* Watched from the reader's first scroll (or a key press, or the CSV button): before that the panels above
         are still empty, the page is short and the table would count as near the screen on every load. */
      var io = null;
      var watch = function () {
        if (io || !ref.current) {
          return;
        }
        io = new IntersectionObserver(function (entries) {
          if (entries.some(function (e) { return e.isIntersecting; })) {
            io.disconnect();
            go();
          }
        }, {rootMargin: '400px 0px'});
        io.observe(ref.current);
      };
      var csv = function (ev) { if (ev.target.closest && ev.target.closest('#table-csv')) { go(); } };
      window.addEventListener('scroll', watch, {once: true, passive: true});
      window.addEventListener('keydown', watch, {once: true});
      document.addEventListener('click', csv, true);
      /* ... or once the panels above have arrived (the counts and the three charts; the statistics below them are
         worked out only when the reader reaches them): a screen tall enough to show the table without scrolling
         loads it too. */
      var filled = function () {
        return !!document.querySelector('#level-summary table') && ['#team-chart', '#imd-chart', '#size-chart']
          .every(function (s) { return !!document.querySelector(s + ' .main-svg'); });
      };
      var mo = null;
      if (filled()) {
        watch();
      } else if ('MutationObserver' in window) {
        mo = new MutationObserver(function () {
          if (filled()) {
            mo.disconnect();
            watch();
          }
        });
        mo.observe(document.body, {childList: true, subtree: true});
      }
      return function () {
        window.removeEventListener('scroll', watch);
        window.removeEventListener('keydown', watch);
        document.removeEventListener('click', csv, true);
        if (mo) {
          mo.disconnect();
        }
        if (io) {
          io.disconnect();
        }
      };
    }, [Grid]);
    if (Grid) {
      return React.createElement(Grid, props);
    }
    return React.createElement('div', {ref: ref, id: props.id, className: props.className, style: props.style,
                                       'aria-busy': 'true'}, 'Loading the table…');
  }

  stub.AgGrid = LazyAgGrid;
  /* What the page's scripts call before the library is there: wait for it (without loading it), then ask it. */
  stub.getApiAsync = function (id) { return ready.then(function (l) { return l.getApiAsync(id); }); };
  stub.load = load;
  window.dash_ag_grid = stub;
})();
