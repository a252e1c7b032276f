// Which turns have other versions, and how to step through them ("‹ 2/3 ›", as ChatGPT
// does). A turn's versions are the active line's turn and the branches that continue from
// the turn before it (GET .../branches: `parent` 0 and `fork_seq` that turn's seq, 0 for
// the first turn). They count in the order they were written: by the seq of their first
// turn, since a session gives each seq once and a later turn gets a higher one.
//
// Versions that ask the same (a regenerated reply) are versions of the reply; versions
// that ask something else (an edited message) are versions of the message. So a message's
// arrows step through its different texts, each shown with its newest reply, and a
// reply's arrows through the replies to the message shown.

import { api } from "./api.js";

// The branches that are other versions of the active line's turns (each has `first_seq`,
// the seq of its first turn).
export async function loadVersions(sessionId) {
  const path = `/api/sessions/${encodeURIComponent(sessionId)}/branches`;
  return (await api("GET", path))
    .filter((branch) => branch.parent === 0)
    .map((branch) => ({ ...branch, first_seq: branch.first_seq ?? Infinity }));
}

// `turns`: the active line in order, as { seq, asked } (the user's message); `branches`:
// loadVersions'. For each turn with other versions, by its seq: { message, reply }, each
// a step { k, n, previous, next } (the branch ids to activate, null at either end) or
// null where that message has no other version.
export function versionsOf(turns, branches) {
  const found = new Map();
  let before = 0;
  for (const { seq, asked } of turns) {
    const others = branches.filter((b) => b.parent === 0 && b.fork_seq === before);
    before = seq;
    if (!others.length) continue;
    const all = [
      { seq, asked, branch: 0 },
      ...others.map((b) => ({ seq: b.first_seq, asked: b.first_message ?? "", branch: b.id })),
    ].sort((a, b) => a.seq - b.seq);
    // By what they ask, in the order each was first asked.
    const groups = new Map();
    for (const version of all) {
      if (!groups.has(version.asked)) groups.set(version.asked, []);
      groups.get(version.asked).push(version);
    }
    const texts = [...groups.values()];
    const mine = texts.findIndex((group) => group.some((v) => v.branch === 0));
    const replies = texts[mine];
    found.set(seq, {
      message: texts.length > 1 ? step(texts.map((group) => group.at(-1).branch), mine) : null,
      reply:
        replies.length > 1
          ? step(replies.map((v) => v.branch), replies.findIndex((v) => v.branch === 0))
          : null,
    });
  }
  return found;
}

function step(branches, index) {
  return {
    k: index + 1,
    n: branches.length,
    previous: branches[index - 1] ?? null,
    next: branches[index + 1] ?? null,
  };
}
