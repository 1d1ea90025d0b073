// apps/fleet/web/src/pages/dom.js — the little DOM the four pages share
// (replay, geofences, reports, devices): building elements, the pages'
// stylesheet, a confirm dialog, per-field error messages, a file download.

/**
 * h('button.primary', {onclick, type: 'button'}, 'Save'): an element with
 * classes from the tag ('tag.a.b'), properties/attributes, and children
 * (strings, nodes, arrays; null/false skipped).
 */
export function h(tag, props, ...children) {
  const [name, ...cls] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (cls.length) el.className = cls.join(' ');
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** The pages' stylesheet (pages.css next to this file), added once. */
export function ensureCss() {
  if (document.querySelector('link[data-weft-pages]')) return;
  const link = h('link', {rel: 'stylesheet', href: new URL('./pages.css', import.meta.url).href});
  link.dataset.weftPages = '1';
  document.head.append(link);
}

/**
 * A modal yes/no dialog (Escape or Cancel: no; Enter or the button: yes).
 * Resolves to true or false; the dialog removes itself.
 */
export function confirmDialog(text, yes = 'Delete') {
  return new Promise((resolve) => {
    const ok = h('button.danger', {type: 'submit', value: 'yes'}, yes);
    const dlg = h('dialog.wp-dialog', {'aria-label': text},
      h('form', {method: 'dialog'},
        h('p', null, text),
        h('div.wp-actions', null, h('button', {type: 'submit', value: 'no'}, 'Cancel'), ok)));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'yes');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** A labelled input with its error line: {row, input, error}. */
export function field(label, name, input) {
  input.name = name;
  input.id = input.id || `wp-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const error = h('span.wp-field-error', {role: 'alert', 'data-field': name});
  input.setAttribute('aria-describedby', error.id = `${input.id}-err`);
  const row = h('div.wp-field', null, h('label', {for: input.id}, label), input, error);
  return {row, input, error};
}

/** Clear every field error of a form (and its general message). */
export function clearErrors(form) {
  for (const e of form.querySelectorAll('.wp-field-error, .wp-form-error')) e.textContent = '';
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/**
 * Show {field, message} (forms.js fieldError) in the form: next to the
 * field it names, else in the form's general message line.
 */
export function showError(form, {field: name, message}) {
  const at = name && form.querySelector(`.wp-field-error[data-field="${name}"]`);
  if (at) {
    at.textContent = message;
    const input = form.elements[name];
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
    return;
  }
  const general = form.querySelector('.wp-form-error');
  if (general) general.textContent = message;
}

/** Save text as a file named `name` (a same-origin blob link, clicked). */
export function downloadText(text, name, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h('a', {href: url, download: name, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** "<select>" options: [[value, label], ...]; the current value kept if present. */
export function options(select, list, value) {
  select.replaceChildren(...list.map(([v, l]) => h('option', {value: String(v)}, l)));
  if (value != null) select.value = String(value);
}
