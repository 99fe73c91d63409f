import { describe, expect, it } from 'vitest';
import { escapeHtml, html, trusted, url } from '../../../src/ui/html.js';
import { formatBytes, shortDigest, time } from '../../../src/ui/format.js';

describe('html templates', () => {
  it('escape every interpolated value, in text and in attributes', () => {
    const value = `<script>alert(1)</script>"'\`&`;
    expect(html`<p title="${value}">${value}</p>`.markup).toBe('<p title="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&#96;&amp;">&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&#96;&amp;</p>');
    expect(escapeHtml('"><img src=x onerror=alert(1)>')).toBe('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('pass nested templates and constants through, join arrays, and drop false, null and undefined', () => {
    const items = ['<a>', 'b'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${false}${null}${undefined}${0}`.markup).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
    expect(html`${trusted('<br>')}`.markup).toBe('<br>');
  });

  it('build same-origin URLs with encoded query parameters', () => {
    expect(url('/image', { name: 'team/app', ref: 'sha256:ab', page: undefined })).toBe('/image?name=team%2Fapp&ref=sha256%3Aab');
    expect(url('/repositories', { q: '' })).toBe('/repositories');
  });
});

describe('formatting', () => {
  it('writes sizes in decimal units as docker does', () => {
    expect([0, 999, 1000, 1500, 12_345_678, 3e9].map(formatBytes)).toEqual(['0 B', '999 B', '1.0 kB', '1.5 kB', '12 MB', '3.0 GB']);
  });

  it('shortens digests and writes times in UTC', () => {
    expect(shortDigest(`sha256:${'a'.repeat(64)}`)).toBe(`sha256:${'a'.repeat(12)}`);
    expect(time('2024-01-02T03:04:05Z').markup).toBe('<time datetime="2024-01-02T03:04:05.000Z">2024-01-02 03:04 UTC</time>');
    expect(time('<b>not a date</b>').markup).toBe('&lt;b&gt;not a date&lt;/b&gt;');
  });
});
