/** The accessControl rules that apply to someone, in sentences (the account page). */
import type { AccessExplanation, GrantExplanation, GrantReason } from '../../access/explain.js';
import type { Action } from '../../access/policy.js';
import { html, type SafeHtml } from '../html.js';

const ACTION_WORDS: Record<Exclude<Action, 'detectManifestCollision'>, string> = {
  read: 'pull',
  create: 'push new images and tags',
  update: 'move existing tags to other images',
  delete: 'delete tags and manifests',
};

function list(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function reasonWords(reason: GrantReason): string {
  switch (reason.kind) {
    case 'user':
      return 'the rule names you';
    case 'group':
      return `you are in the group “${reason.group}”`;
    case 'signedIn':
      return 'you are signed in (the default policy)';
    case 'anonymous':
      return 'guests may (the anonymous policy)';
  }
}

function grantSentence(grant: GrantExplanation): SafeHtml {
  const actions = grant.actions.filter((action): action is Exclude<Action, 'detectManifestCollision'> => action !== 'detectManifestCollision');
  const where = grant.pattern === undefined ? html`In <strong>every repository</strong> (as an administrator)` : html`In repositories matching <code>${grant.pattern}</code>`;
  const what = actions.length > 0 ? `you may ${list(actions.map((action) => ACTION_WORDS[action]))}` : 'you have no permission beyond the note below';
  const collision = grant.actions.includes('detectManifestCollision') ? html` Deleting a manifest by digest is refused there while several tags point to it.` : html``;
  return html`<li>${where}, ${what}, because ${list(grant.reasons.map(reasonWords))}.${collision}</li>`;
}

export function accessWords(explanation: AccessExplanation): SafeHtml {
  if (explanation.mode === 'open') return html`<p>This registry has no sign-in and no access rules: everyone may pull, push and delete everywhere.</p>`;
  if (explanation.mode === 'signedIn') return html`<p>This registry has no access rules: every signed-in user may pull, push new images and tags, move tags and delete, in every repository.</p>`;
  if (explanation.grants.length === 0) return html`<p>No rule gives you access to any repository. Ask the registry operator if you need some.</p>`;
  return html`<ul class="rules">${explanation.grants.map(grantSentence)}</ul>
  ${explanation.narrowed && html`<p class="muted small">More specific rules can narrow this for some repositories: where several patterns match a repository, only the longest one counts.</p>`}`;
}
