/**
 * `docker pull` / `podman pull` lines for a reference on this registry's public host name, and the
 * docker / podman / oras push lines shown where there is nothing to pull yet.
 */
import { html, type SafeHtml } from '../html.js';

export interface PullTarget {
  /** `oci.example.org` or `127.0.0.1:5000`: the host part of the public origin. */
  host: string;
  /** The public origin speaks plain HTTP: podman then needs --tls-verify=false. */
  insecure: boolean;
}

/** `name:tag` or `name@sha256:...` */
export function imageReference(target: PullTarget, name: string, reference: string): string {
  return `${target.host}/${name}${reference.includes(':') ? '@' : ':'}${reference}`;
}

export function pullCommands(target: PullTarget, name: string, reference: string): Array<{ tool: string; command: string }> {
  const image = imageReference(target, name, reference);
  return [
    { tool: 'docker', command: `docker pull ${image}` },
    { tool: 'podman', command: `podman pull ${target.insecure ? '--tls-verify=false ' : ''}${image}` },
  ];
}

/** A command shown as text (selectable without JavaScript) with a copy button berth.js reveals. */
export function copyable(text: string, label: string): SafeHtml {
  return html`<div class="copyable"><code>${text}</code><button type="button" class="button button-small" data-copy="${text}" aria-label="${label}" hidden>Copy</button></div>`;
}

/** The Pull panel for `name:reference`; `which` says what the reference is when the page chose it. */
export function pullPanel(target: PullTarget, name: string, reference: string, which?: string): SafeHtml {
  return html`<section class="card" aria-labelledby="pull-title">
  <h2 id="pull-title">Pull</h2>
  ${which !== undefined && html`<p class="muted small" data-pull-tag="${reference}">Tag <code>${reference}</code>: ${which}</p>`}
  ${pullCommands(target, name, reference).map(({ tool, command }) => copyable(command, `Copy the ${tool} pull command`))}
</section>`;
}

/** Push lines for `name:latest` on this registry: a local image for docker and podman, a file for oras. */
export function pushCommands(target: PullTarget, name: string): Array<{ tool: string; command: string }> {
  const image = imageReference(target, name, 'latest');
  return [
    { tool: 'docker', command: `docker tag my-image:latest ${image} && docker push ${image}` },
    { tool: 'podman', command: `podman push ${target.insecure ? '--tls-verify=false ' : ''}my-image:latest ${image}` },
    { tool: 'oras', command: `oras push ${target.insecure ? '--plain-http ' : ''}${image} ./notes.txt:text/plain` },
  ];
}

/** How to push a first image to `name` (a sample name on an empty registry), each line with a labelled copy button. */
export function pushPanel(target: PullTarget, name: string, intro: string): SafeHtml {
  return html`<section class="card" aria-labelledby="push-title">
  <h2 id="push-title">Push</h2>
  <p class="muted small">${intro} Sign in first with <code>docker login ${target.host}</code> (or podman's, or oras's), with a password or an API key from your account page.</p>
  ${pushCommands(target, name).map(({ tool, command }) => copyable(command, `Copy the ${tool} push command`))}
</section>`;
}
