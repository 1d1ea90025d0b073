// dom.js — h(tag, attrs, ...children): a small element builder. Attributes
// "onX" add listeners; false/null attributes are left out; text is text
// (never parsed as HTML).
export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...kids.flat().filter((k) => k != null && k !== false));
  return el;
}

// patchList(parent, items, spec, shown): make parent's children one node per
// item, in the items' order, redoing only what changed: a node for a new key
// is created (spec.create(item)) and inserted where it belongs, a node whose
// item's spec.sig(item) changed is patched in place (spec.update(node, item)),
// a node whose key is gone is removed, and nodes already in order are left
// alone (new items at the top cost one insert each, not a redraw of the
// list). shown: the caller's Map key -> {node, sig}, kept between calls;
// parent holds only nodes made here. Items with a key seen before in the
// same call are skipped. Returns what it did: {created, updated, moved, removed}.
export function patchList(parent, items, spec, shown) {
  const n = { created: 0, updated: 0, moved: 0, removed: 0 };
  const want = new Set(items.map(spec.key));
  for (const [k, v] of shown) if (!want.has(k)) { v.node.remove(); shown.delete(k); n.removed++; }
  const placed = new Set();
  let at = parent.firstChild;
  for (const it of items) {
    const k = spec.key(it);
    if (placed.has(k)) continue;
    placed.add(k);
    const sig = spec.sig(it);
    let s = shown.get(k);
    if (!s) { s = { node: spec.create(it), sig }; shown.set(k, s); n.created++; }
    else if (s.sig !== sig) { spec.update(s.node, it); s.sig = sig; n.updated++; }
    if (s.node === at) { at = at.nextSibling; continue; }
    if (s.node.parentNode === parent) n.moved++;
    parent.insertBefore(s.node, at);
  }
  return n;
}
