// Progressive enhancement for Berth's server-rendered pages: every page works without this file.
// It adds copy buttons, confirmation before deletes and revokes, sort menus that redraw in place, and
// search-as-you-type on the repositories page through the UI's JSON API. Data is only ever put in
// the page with textContent and attributes, never as markup.
'use strict';

const UI_HEADER = { 'X-ZOT-API-CLIENT': 'zot-ui', Accept: 'application/json' };

function announce(message) {
  let region = document.getElementById('live-status');
  if (!region) {
    region = document.createElement('p');
    region.id = 'live-status';
    region.className = 'visually-hidden';
    region.setAttribute('aria-live', 'polite');
    document.body.append(region);
  }
  region.textContent = message;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP registries are not a secure context: fall back to a selected, off-screen textarea.
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

function enableCopyButtons(root) {
  for (const button of root.querySelectorAll('button[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const label = button.textContent;
      try {
        await copyText(button.dataset.copy);
        button.textContent = 'Copied';
        announce('Copied to the clipboard');
      } catch {
        button.textContent = 'Copy failed';
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  }
}

function enableConfirmations() {
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

// A sort menu redraws the list in place (through the live search) instead of submitting the form:
// arrowing through a closed select fires change at each step, and a page load there would move the
// user without their choosing (WCAG 3.2.2). Without the live search, the form's button applies it.
function enableLiveSort() {
  for (const select of document.querySelectorAll('select[data-live-sort]')) {
    const input = select.form.elements.namedItem('q');
    select.addEventListener('change', () => input?.dispatchEvent(new Event('input')));
  }
}

// The same words as src/ui/format.ts, so a redrawn list looks like a server-rendered one.
function formatBytes(bytes) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatTime(iso) {
  if (!iso) return 'unknown';
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function repositoryRow(repository) {
  const item = document.createElement('li');
  item.className = 'row';
  const link = document.createElement('a');
  link.className = 'row-title';
  link.href = `/repository?${new URLSearchParams({ name: repository.name })}`;
  link.textContent = repository.name;
  const meta = document.createElement('span');
  meta.className = 'row-meta';
  const tags = `${repository.tagCount.toLocaleString('en')} ${repository.tagCount === 1 ? 'tag' : 'tags'}`;
  meta.textContent = `${tags} · ${formatBytes(repository.size)} · last push ${formatTime(repository.lastPush)}`;
  item.append(link, meta);
  return item;
}

function enableLiveSearch() {
  const form = document.querySelector('form[data-live-search]');
  const results = document.getElementById('results');
  if (!form || !results) return;
  const input = form.elements.namedItem('q');
  const count = document.getElementById('result-count');
  const pager = document.getElementById('pager');
  const empty = document.querySelector('.empty');
  let timer;
  let latest = 0;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = new URLSearchParams({ q: input.value, sort: form.elements.namedItem('sort').value });
      const ticket = ++latest;
      const response = await fetch(`/api/ui/repositories?${query}`, { headers: UI_HEADER, credentials: 'same-origin' });
      if (ticket !== latest || !response.ok) return;
      const page = await response.json();
      results.replaceChildren(...page.repositories.map(repositoryRow));
      const shown = page.repositories.length;
      count.textContent = page.total === 0 ? 'No repositories' : `Repositories 1–${shown} of ${page.total.toLocaleString('en')}${input.value ? ` matching “${input.value}”` : ''}`;
      if (empty) empty.hidden = page.total !== 0;
      // Further pages are one click away through the plain form (the URL keeps the search).
      if (pager) pager.hidden = page.pages > 1 ? false : true;
      if (pager && page.pages > 1) {
        const next = document.createElement('a');
        next.href = `/repositories?${new URLSearchParams({ q: input.value, sort: form.elements.namedItem('sort').value, page: '2' })}`;
        next.textContent = 'Next →';
        pager.replaceChildren(next);
      }
      history.replaceState(null, '', `/repositories?${query}`);
    }, 200);
  });
}

// A table that may scroll sideways comes focusable (tabindex="0"), so a keyboard can scroll it; one
// that fits the window needs no Tab stop of its own, so the script drops it until a resize makes it scroll.
function trimScrollRegions() {
  const update = () => {
    for (const region of document.querySelectorAll('.table-wrap[role="region"]')) {
      if (region.scrollWidth > region.clientWidth) region.setAttribute('tabindex', '0');
      else region.removeAttribute('tabindex');
    }
  };
  update();
  window.addEventListener('resize', update);
}

document.addEventListener('DOMContentLoaded', () => {
  enableCopyButtons(document);
  trimScrollRegions();
  enableConfirmations();
  enableLiveSort();
  enableLiveSearch();
});
