// Preloaded into Portkey's gateway (`node --require bench/portkey-bind.cjs ...`) by the benchmark.
// Portkey listens on every interface and has no host flag; the benchmark keeps all traffic on
// loopback, so every TCP listen is pinned to 127.0.0.1.
'use strict';
const net = require('node:net');

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !('_handle' in first) && first.path === undefined) {
    // listen(options[, callback])
    args[0] = { ...first, host: LOOPBACK };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): the host slot may be a string or undefined.
    if (args.length > 1 && (typeof args[1] === 'string' || args[1] === undefined)) args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  }
  return listen.apply(this, args);
};
