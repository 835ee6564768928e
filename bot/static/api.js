// The staff pages' JSON calls: a refusal throws an Error with the server's Chinese message, its status and code (and
// the problems of a knowledge-base edit), so a page shows it as it is.
export async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin", headers: { "content-type": "application/json" } }, opts || {}));
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(typeof data.detail === "string" ? data.detail : String(r.status)), { status: r.status, code: data.code, problems: data.problems });
  return data;
}
