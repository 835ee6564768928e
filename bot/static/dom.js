// What every page shares to find and build elements. Text always goes in as textContent, never innerHTML:
// residents' and agents' words are untrusted.
export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// A tab a module adds to /admin's bar (staff_admin.js, teams.js, voice.js, imports.js, communities.js): the page's own
// tab listeners know nothing of it, so when it is clicked it marks itself and hides every panel; the module then shows
// its own.
export function selectTab(tabs, view, button) {
  tabs.querySelectorAll("button").forEach((x) => x.classList.toggle("active", x === button));
  view.querySelectorAll(":scope > [id^='tab-']").forEach((p) => p.classList.add("hidden"));
}
