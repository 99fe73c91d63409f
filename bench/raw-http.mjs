/**
 * A minimal HTTP/1.1 keep-alive connection for body-less requests (HEAD). It exists because undici
 * closes the connection after every HEAD request (client-h1.js, "Close after a HEAD request to
 * interop with misbehaving servers"), which would turn a HEAD benchmark into a TCP-connect
 * benchmark; registry clients such as containerd keep HEAD connections alive.
 *
 * One request at a time per connection; responses must carry Content-Length or no body (HEAD).
 */
import { connect } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 64 * 1024;

export class RawConnection {
  /**
   * @param {{ host: string, port: number }} address
   * @param {number} timeoutMs  a request that takes longer fails and the socket is dropped
   */
  constructor(address, timeoutMs) {
    this.address = address;
    this.timeoutMs = timeoutMs;
    this.socket = undefined;
    this.pending = undefined;
  }

  #open() {
    const socket = connect({ ...this.address, noDelay: true });
    // Events of a socket this connection has already let go of are ignored.
    socket.on('data', (chunk) => {
      if (this.socket === socket) this.#onData(chunk);
    });
    socket.on('error', (error) => {
      if (this.socket === socket) this.#fail(error);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.#fail(new Error('connection closed by the server'));
    });
    this.socket = socket;
  }

  /**
   * Sends `method path` with `headers` (no body) and resolves with the status once the response
   * has been read in full.
   */
  request(method, path, headers = {}) {
    if (this.pending) return Promise.reject(new Error('one request at a time'));
    if (!this.socket || this.socket.destroyed) this.#open();
    const lines = [`${method} ${path} HTTP/1.1`, `host: ${this.address.host}:${this.address.port}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no response in ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending = { method, resolve, reject, timer, data: Buffer.alloc(0), status: 0, bodyLeft: -1, keepAlive: true };
      this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  #onData(chunk) {
    const pending = this.pending;
    if (!pending) {
      this.socket?.destroy();
      return;
    }
    if (pending.bodyLeft < 0) {
      pending.data = pending.data.length === 0 ? chunk : Buffer.concat([pending.data, chunk]);
      const end = pending.data.indexOf(HEADER_END);
      if (end < 0) {
        if (pending.data.length > MAX_HEADER_BYTES) this.#fail(new Error('response headers too large'));
        return;
      }
      const head = pending.data.subarray(0, end).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!status) return this.#fail(new Error(`bad status line: ${head.slice(0, 80)}`));
      pending.status = Number(status[1]);
      pending.keepAlive = !/^connection:\s*close\s*$/im.test(head);
      const noBody = pending.method === 'HEAD' || pending.status === 204 || pending.status === 304;
      if (!noBody && /^transfer-encoding:/im.test(head)) return this.#fail(new Error('chunked responses are not supported'));
      const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
      pending.bodyLeft = noBody ? 0 : length ? Number(length[1]) : 0;
      chunk = pending.data.subarray(end + HEADER_END.length);
      pending.data = Buffer.alloc(0);
    }
    pending.bodyLeft -= chunk.length;
    if (pending.bodyLeft > 0) return;
    if (pending.bodyLeft < 0) return this.#fail(new Error('more bytes than the response announced'));
    this.pending = undefined;
    clearTimeout(pending.timer);
    if (!pending.keepAlive) {
      this.socket?.end();
      this.socket = undefined;
    }
    pending.resolve(pending.status);
  }

  #fail(error) {
    const pending = this.pending;
    this.pending = undefined;
    if (this.socket) {
      this.socket.destroy();
      this.socket = undefined;
    }
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  close() {
    this.socket?.destroy();
    this.socket = undefined;
  }
}
