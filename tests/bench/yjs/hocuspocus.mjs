// Hocuspocus as the benchmark runs it: its defaults, no extensions (no
// persistence), on 127.0.0.1:$PORT. Prints "listening" when ready.
import { Server } from '@hocuspocus/server';

const server = new Server({ address: '127.0.0.1', port: Number(process.env.PORT), quiet: true });
await server.listen();
console.log('listening');
