// autocannon setupRequest (runs in its worker): each request takes the next pre-signed baggage
// header (passport + a fresh single-use handoff) from KEST_BENCH_HANDOFFS, from KEST_BENCH_OFFSET on.
const { readFileSync } = require('node:fs');

const pool = JSON.parse(readFileSync(process.env.KEST_BENCH_HANDOFFS, 'utf8'));
let next = Number(process.env.KEST_BENCH_OFFSET || 0);

module.exports = (request) => {
  const baggage = pool[next++ % pool.length];
  request.headers = { ...request.headers, baggage };
  return request;
};
