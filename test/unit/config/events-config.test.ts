import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';
import { configProblems } from '../../helpers/config-problems.js';

const problems = configProblems;

const withEvents = (events: unknown) => ({ storage: { rootDirectory: '/x' }, extensions: { events } });

afterEach(() => {
  delete process.env.BERTH_UNIT_SINK_PASSWORD;
});

describe('extensions.events', () => {
  it('reads zot example config-events.json: a nats sink with timeout and channel, defaults for the rest', () => {
    const config = buildConfig(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://127.0.0.1:4222', timeout: '10s', channel: 'alerts' }] }), 'f.json');
    expect(config.extensions.events).toEqual({
      sinks: [{ type: 'nats', address: 'nats://127.0.0.1:4222', channel: 'alerts', timeoutMs: 10_000, headers: {} }],
      source: 'zotregistry.dev',
      typePrefix: 'zotregistry',
      deliveryMaxAgeMs: 24 * 3_600_000,
    });
    expect(config.warnings).toEqual([]);
  });

  it('is off unless enabled, and matches keys case-insensitively', () => {
    expect(buildConfig(withEvents({ sinks: [{ type: 'http', address: 'http://h/' }] }), 'f.json').extensions.events).toBeUndefined();
    const config = buildConfig(withEvents({ Enable: true, DeliveryMaxAge: '2h', Sinks: [{ Type: 'http', Address: 'https://h.example/hook', Headers: { 'X-A': '1' }, CACertFile: 'ca.pem' }] }), 'f.json');
    expect(config.extensions.events).toMatchObject({ deliveryMaxAgeMs: 7_200_000, sinks: [{ type: 'http', timeoutMs: 30_000, headers: { 'x-a': '1' }, tls: { caCertFile: path.resolve('ca.pem') } }] });
  });

  it('refuses a proxy by name, bad addresses, a nats sink without a subject, half a key pair, and credentials in the URL', () => {
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', proxy: 'http://proxy:3128' }] }))).toEqual([expect.stringMatching(/^f\.json: \/extensions\/events\/sinks\/0\/proxy: Berth does not send events through a proxy/)]);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'nats://h:4222' }] }))).toEqual([expect.stringMatching(/sinks\/0\/address: an http sink needs/)]);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://h:4222' }] }))).toEqual([expect.stringMatching(/sinks\/0\/channel: a nats sink needs a subject/)]);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', tls: { certfile: 'c.pem' } }] }))).toEqual([expect.stringMatching(/certfile and keyfile go together/)]);
    const leaked = problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://u:hunter2@h/' }] }));
    expect(leaked).toEqual([expect.stringMatching(/credentials in the URL/)]);
    expect(leaked.join()).not.toContain('hunter2');
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'kafka', address: 'http://h/' }] })).join()).toMatch(/sinks\/0\/type/);
  });

  it('refuses a deliveryMaxAge below 1 minute, a source or HTTP channel that cannot be a header value, a NATS channel that is no subject, and a sink listed twice', () => {
    const sink = { type: 'http', address: 'http://h/hook' };
    expect(problems(withEvents({ enable: true, deliveryMaxAge: '0', sinks: [sink] }))).toEqual([expect.stringMatching(/^f\.json: \/extensions\/events\/deliveryMaxAge: at least 1m/)]);
    expect(problems(withEvents({ enable: true, deliveryMaxAge: '59s', sinks: [sink] }))).toEqual([expect.stringMatching(/\/deliveryMaxAge: at least 1m/)]);
    expect(problems(withEvents({ enable: true, deliveryMaxAge: '1m', sinks: [sink] }))).toEqual([]);
    // Sent as the ce-source and ce-channel headers: undici refuses a control character or one past U+00FF in a header.
    for (const source of ['registry\u0001', 'régistry', 'registry \u20ac']) {
      expect(problems(withEvents({ enable: true, source, sinks: [sink] }))).toEqual([expect.stringMatching(/^f\.json: \/extensions\/events\/source: printable ASCII only/)]);
    }
    expect(problems(withEvents({ enable: true, source: 'https://registry.example/ a\tb', sinks: [sink] }))).toEqual([]);
    expect(problems(withEvents({ enable: true, sinks: [{ ...sink, channel: 'bau\u00df' }] }))).toEqual([expect.stringMatching(/^f\.json: \/extensions\/events\/sinks\/0\/channel: printable ASCII only/)]);
    for (const channel of ['a b', 'a.*', 'a.>', 'a..b', '.a', 'a\r\nPUB b 1']) {
      expect(problems(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://h:4222', channel }] }))).toEqual([expect.stringMatching(/sinks\/0\/channel: not a NATS subject/)]);
    }
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://h:4222', channel: 'registry.events-1' }] }))).toEqual([]);
    // The same type, address and channel: one sink key, so one cursor for both.
    const twice = problems(withEvents({ enable: true, sinks: [sink, { type: 'nats', address: 'nats://h:4222', channel: 'a' }, { ...sink, timeout: '5s' }] }));
    expect(twice).toEqual([expect.stringMatching(/^f\.json: \/extensions\/events\/sinks\/2: the same sink as \/extensions\/events\/sinks\/0/)]);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://h:4222', channel: 'a' }, { type: 'nats', address: 'nats://h:4222', channel: 'b' }] }))).toEqual([]);
  });

  it('lowercases header names and refuses the headers the HTTP client or the event sets, line breaks, and a timeout past 1h', () => {
    const read = buildConfig(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', headers: { 'X-Team': 'platform', 'Content-Type': 'text/plain' } }] }), 'f.json');
    expect(read.extensions.events!.sinks[0]!.headers).toEqual({ 'x-team': 'platform' });
    expect(read.warnings).toEqual(['f.json: /extensions/events/sinks/0/headers/Content-Type: ignored; an event is sent with its own content type']);
    const refused = (headers: Record<string, string>, extra: object = {}) => problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', headers, ...extra }] }));
    for (const name of ['Transfer-Encoding', 'Connection', 'Expect', 'Content-Length', 'Host', 'Upgrade', 'Keep-Alive']) {
      expect(refused({ [name]: 'x' })).toEqual([`f.json: /extensions/events/sinks/0/headers/${name}: set by the HTTP client itself; remove it`]);
    }
    expect(refused({ 'ce-id': 'fixed' })).toEqual([expect.stringMatching(/headers\/ce-id: CloudEvents attributes are set by the event/)]);
    expect(refused({ 'X-A': 'one\r\nX-Injected: two' })).toEqual([expect.stringMatching(/headers\/X-A: a header value cannot hold a line break/)]);
    expect(refused({ 'X A': '1' })).toEqual([expect.stringMatching(/headers\/X A: not a valid header name/)]);
    expect(refused({ 'X-A': '1', 'x-a': '2' })).toEqual([expect.stringMatching(/headers\/x-a: given twice/)]);
    expect(refused({ Authorization: 'Bearer t' }, { credentials: { token: '${BERTH_UNIT_SINK_PASSWORD}' } }).join()).toMatch(/headers\/Authorization: either an authorization header or credentials/);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', timeout: '1000h' }] }))).toEqual([expect.stringMatching(/sinks\/0\/timeout: at most 1h/)]);
    // A malformed address is not repeated: it may hold a password.
    const malformed = problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://u:hunter2@[bad' }] }));
    expect(malformed).toEqual(['f.json: /extensions/events/sinks/0/address: not a URL']);
  });

  it('takes secrets from the environment or a file, warns about inline ones, and never repeats them', async () => {
    process.env.BERTH_UNIT_SINK_PASSWORD = 'from-env-secret';
    const fromEnv = buildConfig(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', credentials: { username: 'ci', password: '${BERTH_UNIT_SINK_PASSWORD}' } }] }), 'f.json');
    expect(fromEnv.extensions.events!.sinks[0]!.credentials).toEqual({ username: 'ci', password: 'from-env-secret' });
    expect(fromEnv.warnings).toEqual([]);
    const folder = await mkdtemp(path.join(tmpdir(), 'berth-events-config-'));
    const file = path.join(folder, 'sink.json');
    await writeFile(file, JSON.stringify({ token: 'from-file-secret' }));
    const fromFile = buildConfig(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', credentials: { file } }] }), 'f.json');
    expect(fromFile.extensions.events!.sinks[0]!.credentials).toEqual({ token: 'from-file-secret' });
    const natsCreds = buildConfig(withEvents({ enable: true, sinks: [{ type: 'nats', address: 'nats://h:4222', channel: 's', credentials: { file: 'user.creds' } }] }), 'f.json');
    expect(natsCreds.extensions.events!.sinks[0]!.natsCredentialsFile).toBe(path.resolve('user.creds'));
    const inline = buildConfig(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', credentials: { token: 'inline-secret' } }] }), 'f.json');
    expect(inline.warnings.join('\n')).toMatch(/credentials\/token: a secret written in the config file/);
    expect(inline.warnings.join('\n')).not.toContain('inline-secret');
    const missing = problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', credentials: { username: 'a', password: '${BERTH_UNIT_NOT_SET}' } }] }));
    expect(missing).toEqual([expect.stringMatching(/environment variable BERTH_UNIT_NOT_SET is not set/)]);
    expect(problems(withEvents({ enable: true, sinks: [{ type: 'http', address: 'http://h/', credentials: { file: path.join(folder, 'absent.json') } }] }))).toEqual([expect.stringMatching(/credentials\/file: cannot read .* ENOENT/)]);
  });
});
