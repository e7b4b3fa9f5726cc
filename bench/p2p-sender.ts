// Child process for bench/p2p.ts: a bare sender that streams N bytes to whoever connects, over raw
// TCP (node:net) or over libp2p noise+yamux without a DHT. Prints one JSON line with its address.
import '../sidecar/polyfills.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import net from 'node:net';
import { MAX_STREAM_WINDOW } from '../sidecar/node/constants.js';
import { writeChunk } from '../sidecar/p2p/stream-io.js';

const [mode, sizeText] = process.argv.slice(2);
const size = Number(sizeText);
const block = Buffer.alloc(256 * 1024, 7);

if (mode === 'tcp') {
  const server = net.createServer(async (socket) => {
    for (let sent = 0; sent < size; sent += block.length) {
      const chunk = sent + block.length > size ? block.subarray(0, size - sent) : block;
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end();
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
} else {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
  });
  await node.handle('/fastreg-bench/1.0.0', async (stream) => {
    for (let sent = 0; sent < size; sent += block.length) {
      await writeChunk(stream, sent + block.length > size ? block.subarray(0, size - sent) : block);
    }
    await stream.close();
  });
  process.stdout.write(`${JSON.stringify({ addr: node.getMultiaddrs()[0]?.toString() })}\n`);
}
process.on('SIGTERM', () => process.exit(0));
