// Checks JS types of user options and turns durations into integer milliseconds. Ranges and string
// formats are the core's business (native parse*/validate), so both languages reject the same input.
'use strict';

const native = require('./native');
const { invalidArgument } = require('./errors');

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return 'a string';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function checkOptionsObject(options, param, allowed) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument(param, `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw invalidArgument(key, `unknown option (expected one of: ${allowed.join(', ')})`);
    }
  }
  return options;
}

// An integer the core can take as int64 without loss; the core checks the range (e.g. > 0).
function integer(value, param) {
  if (typeof value !== 'number') throw invalidArgument(param, `must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw invalidArgument(param, `must be finite, got ${value}`);
  if (!Number.isSafeInteger(value)) throw invalidArgument(param, `must be an integer, got ${value}`);
  return value;
}

function positiveInteger(value, param) {
  integer(value, param);
  if (value <= 0) throw invalidArgument(param, `must be greater than 0, got ${value}`);
  return value;
}

// Seconds as a number (900, 1.5) or a string ('900', '15m', '1h'), like the Python API.
function durationMs(value, param) {
  if (typeof value === 'number') return native.secondsToMs(value, param);
  if (typeof value === 'string') return native.parseDurationMs(value, param);
  throw invalidArgument(param, `must be seconds (a number) or a duration string like '15m', got ${describe(value)}`);
}

// A primitive's duration option in ms: a number of ms (fractions round up) or a duration string
// ('15m'); undefined/null (not given) stay undefined. Zero only with allowZero.
function optionalMs(value, param, { allowZero = false } = {}) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return native.parseDurationMs(value, param);
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidArgument(param, "must be a number of milliseconds or a duration string like '15m'");
  }
  if (value < 0 || (value === 0 && !allowZero)) {
    throw invalidArgument(param, `must be ${allowZero ? '>= 0' : 'greater than 0'}, got ${value}`);
  }
  return Math.ceil(value);
}

function string(value, param) {
  if (typeof value !== 'string') throw invalidArgument(param, `must be a string, got ${describe(value)}`);
  return value;
}

module.exports = { checkOptionsObject, integer, positiveInteger, durationMs, optionalMs, string, describe };
