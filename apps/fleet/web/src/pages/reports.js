// pages/reports.js — trips, stops and summary (#/reports) for a vehicle or a
// group over a time range: a table, and the API's CSV as a download.
//
// The selection is checked before asking (report_util.js reportRequest);
// the API's errors (400/404/...) and an empty answer each say so in the
// page. The CSV is the API's own (?format=csv, knots/metres/ms), saved
// under a name that says what it holds (csvFileName).
import {h, ensureCss, downloadText, options} from './dom.js';
import {fieldError} from './forms.js';
import {KINDS, COLUMNS, reportRequest, csvFileName} from './report_util.js';
import {todayRange, toLocalInput, fromLocalInput} from './replay_clock.js';

const LABEL = {trips: 'Trips', stops: 'Stops', summary: 'Summary'};

export function mount(root, ctx) {
  ensureCss();
  ctx.setPanelWide?.(true); // a table page (the shell may not offer it: then the table scrolls)
  let alive = true;
  const today = todayRange();
  const kind = h('select', {name: 'kind', 'aria-label': 'Report'});
  options(kind, KINDS.map((k) => [k, LABEL[k]]), 'trips');
  const target = h('select', {name: 'target', 'aria-label': 'Vehicle or group'});
  const from = h('input', {type: 'datetime-local', name: 'from', value: toLocalInput(today.from), 'aria-label': 'From'});
  const to = h('input', {type: 'datetime-local', name: 'to', value: toLocalInput(today.to), 'aria-label': 'To'});
  const show = h('button.primary', {type: 'submit'}, 'Show');
  const csv = h('button', {type: 'button', onclick: download}, 'Download CSV');
  const status = h('p.wp-status', {role: 'status'});
  const out = h('div.wp-scroll');
  const form = h('form.wp-toolbar', {onsubmit: (e) => { e.preventDefault(); run(); }},
    h('label', null, 'Report ', kind), h('label', null, 'For ', target),
    h('label', null, 'From ', from), h('label', null, 'To ', to), show, csv);
  const page = h('section.wp-page.wp-reports', {'aria-label': 'Reports'}, h('h2', null, 'Reports'), form, status, out);
  root.append(page);

  // the vehicles (from the live store) and the user's groups
  function fillTargets(groups) {
    const devs = [...ctx.store.devices.values()].sort((a, b) => a.name.localeCompare(b.name));
    const keep = target.value;
    target.replaceChildren(
      h('optgroup', {label: 'Vehicles'}, devs.map((d) => h('option', {value: `d:${d.id}`}, d.name))),
      h('optgroup', {label: 'Groups'}, groups.map((g) => h('option', {value: `g:${g.id}`}, g.name))));
    if (keep) target.value = keep;
  }
  let groups = [];
  ctx.api.get('/api/groups').then((gs) => { groups = gs; if (alive) fillTargets(groups); }, () => fillTargets([]));
  fillTargets([]);
  const onDevices = () => fillTargets(groups);
  ctx.store.on('devices', onDevices);
  ctx.store.on('reset', onDevices);

  function selection() {
    const [t, id] = target.value.split(':');
    return {kind: kind.value, deviceId: t === 'd' ? id : undefined, groupId: t === 'g' ? id : undefined,
      from: fromLocalInput(from.value), to: fromLocalInput(to.value)};
  }
  function label() {
    const o = target.selectedOptions[0];
    return o ? o.textContent : 'report';
  }

  async function run() {
    const rq = reportRequest(selection());
    if (rq.error) return say(rq.error, 'error');
    say('Loading…');
    out.replaceChildren();
    try {
      const rows = await ctx.api.get(rq.path, rq.query);
      if (!alive) return;
      if (!rows.length) return say(`No ${kind.value === 'summary' ? 'data' : kind.value} for ${label()} in this range.`, 'empty');
      const cols = COLUMNS[kind.value];
      out.replaceChildren(h('table.wp-table.wp-report', {'aria-label': `${LABEL[kind.value]} of ${label()}`},
        h('thead', null, h('tr', null, cols.map(([t]) => h('th', {scope: 'col'}, t)))),
        h('tbody', null, rows.map((r) => h('tr', null, cols.map(([, f]) => h('td', null, f(r))))))));
      say(`${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`);
    } catch (e) {
      if (alive) say(fieldError(e, []).message, 'error');
    }
  }

  async function download() {
    const sel = selection();
    const rq = reportRequest(sel, 'csv');
    if (rq.error) return say(rq.error, 'error');
    try {
      const text = await ctx.api.get(rq.path, rq.query, {text: true});
      downloadText(text, csvFileName(sel.kind, label(), sel.from, sel.to));
    } catch (e) {
      say(fieldError(e, []).message, 'error');
    }
  }

  function say(text, kindOf = '') {
    status.textContent = text;
    status.dataset.kind = kindOf;
  }

  return {
    unmount() {
      alive = false;
      ctx.store.off('devices', onDevices);
      ctx.store.off('reset', onDevices);
      ctx.setPanelWide?.(false);
      page.remove();
    },
  };
}
