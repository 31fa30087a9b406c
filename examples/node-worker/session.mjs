// Session merging as docs/protocol.md §4 "Sessions" specifies, shared by
// worker.mjs and checked against the Go side by e2e/nodeworker_test.go.

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// mergeSession merges patch into dst recursively: an object merges into an
// object (into {} otherwise), null removes the key at any depth, anything
// else (string, number, boolean, array) replaces the old value whole.
export function mergeSession(dst, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete dst[k];
    } else if (isObject(v)) {
      const d = isObject(dst[k]) ? dst[k] : {};
      mergeSession(d, v);
      dst[k] = d;
    } else {
      dst[k] = v;
    }
  }
  return dst;
}

// sessionPatch returns what mergeSession turns before into after: the keys
// that changed, null for removed ones, and a nested patch where both sides
// are objects; null when nothing changed.
export function sessionPatch(before, after) {
  const patch = {};
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(before[k]) === JSON.stringify(v)) continue;
    if (isObject(before[k]) && isObject(v)) {
      const p = sessionPatch(before[k], v);
      if (p) patch[k] = p;
    } else {
      patch[k] = v;
    }
  }
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  return Object.keys(patch).length ? patch : null;
}
