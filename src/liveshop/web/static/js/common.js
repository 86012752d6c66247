// What every page's module shares.

// Draw `items` into `list`, one node per key, keeping the nodes that stay: a node is moved
// only when its place changed, so a button that has the keyboard focus keeps it while the
// list changes around it (new chat lines, a pin). `make(item)` builds a node; `update(node,
// item)`, when given, refreshes one that stays.
export function reconcile(list, items, keyOf, make, update = null) {
  const existing = new Map();
  for (const node of list.children) if (node.dataset.key !== undefined) existing.set(node.dataset.key, node);
  const wanted = items.map((item) => {
    const k = String(keyOf(item));
    let node = existing.get(k);
    if (node) { existing.delete(k); if (update) update(node, item); } else { node = make(item); node.dataset.key = k; }
    return node;
  });
  for (const node of [...list.children]) if (!wanted.includes(node)) node.remove();
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
}
