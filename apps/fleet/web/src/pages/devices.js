// pages/devices.js — the devices admin (#/devices): list, create, edit
// (name, uniqueId, group, category, speed limit), disable/enable.
//
// For managers and admins. A viewer is told so and gets no forms (the API
// would answer their changes 403 anyway: it is the authority, this page only
// spares them the attempt). Every check is the API's: its message is shown
// next to the field it names (forms.js fieldError), or above the buttons.
import {h, ensureCss, field, clearErrors, showError, options} from './dom.js';
import {deviceBody, deviceValues, fieldError} from './forms.js';
import {fmtSpeed} from './report_util.js';

const FIELDS = ['name', 'uniqueId', 'groupId', 'category', 'speedLimit', 'disabled'];

export function mount(root, ctx) {
  ensureCss();
  ctx.setPanelWide?.(true); // a table page (the shell may not offer it: then the table scrolls)
  const page = h('section.wp-page.wp-devices', {'aria-label': 'Devices'});
  root.append(page);
  if (ctx.user.role === 'viewer') {
    page.append(h('h2', null, 'Devices'),
      h('p.wp-empty', null, 'Managing devices needs the manager or admin role; your account is a viewer.'));
    return {unmount() { ctx.setPanelWide?.(false); page.remove(); }};
  }

  let devices = [], groups = new Map(), alive = true;
  const status = h('p.wp-status', {role: 'status'});
  const search = h('input', {type: 'search', placeholder: 'Search name or unique id', 'aria-label': 'Search devices'});
  const tbody = h('tbody');
  const table = h('table.wp-table', null,
    h('thead', null, h('tr', null, ['Name', 'Unique id', 'Group', 'Category', 'Speed limit', 'State', ''].map((t) => h('th', {scope: 'col'}, t)))),
    tbody);
  page.append(
    h('header.wp-head', null, h('h2', null, 'Devices'), search,
      h('button.primary', {type: 'button', onclick: () => openForm(null)}, 'New device')),
    status, h('div.wp-scroll', null, table));
  search.addEventListener('input', render);

  function groupName(id) {
    return id == null ? '—' : (groups.get(id) || {}).name || `group ${id}`;
  }

  function render() {
    const q = search.value.trim().toLowerCase();
    const rows = devices.filter((d) => !q || d.name.toLowerCase().includes(q) || d.uniqueId.toLowerCase().includes(q));
    tbody.replaceChildren(...rows.map((d) => h('tr', {dataset: {id: d.id}, class: d.disabled ? 'wp-disabled' : null},
      h('td', null, d.name), h('td', null, h('code', null, d.uniqueId)), h('td', null, groupName(d.groupId)),
      h('td', null, d.category || ''), h('td', null, d.speedLimit ? `${d.speedLimit} kn (${fmtSpeed(d.speedLimit)})` : '—'),
      h('td', null, d.disabled ? 'disabled' : d.status || ''),
      h('td.wp-row-actions', null,
        h('button', {type: 'button', onclick: () => openForm(d), 'aria-label': `Edit ${d.name}`}, 'Edit'),
        h('button', {type: 'button', onclick: () => setDisabled(d, !d.disabled), 'aria-label': `${d.disabled ? 'Enable' : 'Disable'} ${d.name}`},
          d.disabled ? 'Enable' : 'Disable')))));
    status.textContent = devices.length ? `${rows.length} of ${devices.length} devices` : 'No devices yet.';
  }

  async function load() {
    try {
      const [ds, gs] = await Promise.all([ctx.api.get('/api/devices', {limit: 10000}), ctx.api.get('/api/groups')]);
      if (!alive) return;
      devices = ds;
      groups = new Map(gs.map((g) => [g.id, g]));
      render();
    } catch (e) {
      if (alive) status.textContent = fieldError(e, []).message;
    }
  }

  async function setDisabled(d, disabled) {
    try {
      const nd = await ctx.api.put(`/api/devices/${d.id}`, {disabled});
      devices = devices.map((x) => (x.id === nd.id ? nd : x));
      render();
      ctx.toast(`${nd.name} ${disabled ? 'disabled' : 'enabled'}`, 'ok');
    } catch (e) {
      ctx.toast(fieldError(e, []).message, 'error');
    }
  }

  // the create/edit dialog: Enter submits, Escape closes (the <dialog>'s own)
  function openForm(d) {
    const v = d ? deviceValues(d) : {name: '', uniqueId: '', groupId: '', category: '', speedLimit: '', disabled: false};
    const group = h('select');
    const list = [...groups.values()].map((g) => [g.id, g.name]);
    if (ctx.user.role === 'admin') list.unshift(['', '— no group —']);
    // a new device goes into the first group by default (one in no group is seen by admins only)
    options(group, list, d ? v.groupId : (groups.size ? [...groups.keys()][0] : ''));
    const f = {
      name: field('Name', 'name', h('input', {type: 'text', value: v.name, required: true, autocomplete: 'off'})),
      uniqueId: field('Unique id (IMEI or OsmAnd id)', 'uniqueId', h('input', {type: 'text', value: v.uniqueId, required: true, autocomplete: 'off'})),
      groupId: field('Group', 'groupId', group),
      category: field('Category', 'category', h('input', {type: 'text', value: v.category, placeholder: 'default', list: 'wp-categories'})),
      speedLimit: field('Speed limit (knots, empty: the group\'s)', 'speedLimit', h('input', {type: 'text', inputmode: 'decimal', value: v.speedLimit})),
      disabled: field('Disabled', 'disabled', h('input', {type: 'checkbox', checked: v.disabled})),
    };
    const form = h('form.wp-form', {method: 'dialog', novalidate: true},
      h('h3', null, d ? `Edit ${d.name}` : 'New device'),
      FIELDS.map((k) => f[k].row),
      h('datalist', {id: 'wp-categories'}, ['default', 'car', 'van', 'truck', 'bus', 'motorcycle'].map((c) => h('option', {value: c}))),
      h('p.wp-form-error', {role: 'alert'}),
      h('div.wp-actions', null,
        h('button', {type: 'button', onclick: () => dlg.close()}, 'Cancel'),
        h('button.primary', {type: 'submit'}, d ? 'Save' : 'Create')));
    const dlg = h('dialog.wp-dialog', {'aria-label': d ? `Edit ${d.name}` : 'New device'}, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const body = deviceBody({
        name: f.name.input.value, uniqueId: f.uniqueId.input.value, groupId: group.value,
        category: f.category.input.value, speedLimit: f.speedLimit.input.value, disabled: f.disabled.input.checked,
      });
      try {
        const nd = d ? await ctx.api.put(`/api/devices/${d.id}`, body) : await ctx.api.post('/api/devices', body);
        devices = d ? devices.map((x) => (x.id === nd.id ? nd : x)) : [...devices, nd];
        render();
        dlg.close();
        ctx.toast(`${nd.name} ${d ? 'saved' : 'created'}`, 'ok');
      } catch (e) {
        showError(form, fieldError(e, FIELDS));
      }
    });
    dlg.addEventListener('close', () => dlg.remove());
    page.append(dlg);
    dlg.showModal();
    f.name.input.focus();
  }

  load();
  return {
    unmount() {
      alive = false;
      ctx.setPanelWide?.(false);
      page.remove();
    },
  };
}
