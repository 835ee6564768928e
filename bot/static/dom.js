// What every page shares to find and build elements. Text always goes in as textContent, never innerHTML:
// residents' and agents' words are untrusted.
export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
