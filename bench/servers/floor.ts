/**
 * The measurement's floor: node:http answering a constant, with no framework and no work. Its latency at 1,000 req/s
 * is what this machine and the load generator add to every server's figures.
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end('{"ok":true}');
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
