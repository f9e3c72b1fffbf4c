/* Functions the CCG table (dash-ag-grid) calls by name. */
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

/* CSV cells that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) are written
   with a leading quote (OWASP, CSV injection); numbers are left alone. Same rule as geodata/csv_safe.py. */
dagfuncs.escapeCsvCell = function (params) {
  var v = params.value;
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(v)) {
    return "'" + v;
  }
  return v;
};
