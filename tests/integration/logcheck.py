# SPDX-License-Identifier: Apache-2.0
"""The transparency log checked from the outside (Python 3 standard library only).

RFC 6962/9162 in a few functions: leaf and node hashes, the tree head of a
list of entries, and the verifiers of inclusion and consistency proofs
(RFC 9162 §2.1.3.2 and §2.1.4.2), plus what a test needs to read a sluice
log over HTTP: the checkpoint (its signature is not checked here; `sluice
log verify` does that), the entries, and one call that checks a checkpoint
against the entries it covers and against what an earlier look saw.

    seen = logcheck.LogView()
    seen.check(port)            # raises LogError naming the first problem
"""
import base64
import hashlib
import http.client
import json


class LogError(AssertionError):
    pass


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves):
    """MTH of a list of leaf hashes (RFC 6962 §2.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Pairing left to right and carrying an odd last node up unchanged gives
    # the same head as the recursive split at the largest power of two.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def parse_checkpoint(note):
    """(origin, size, root) of a C2SP checkpoint note (signature lines ignored)."""
    text = note.split("\n\n", 1)[0]
    lines = text.split("\n")
    if len(lines) < 3:
        raise LogError("checkpoint has fewer than three lines: %r" % note[:200])
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as e:
        raise LogError("malformed checkpoint (%s): %r" % (e, note[:200]))
    if len(root) != 32 or str(size) != lines[1]:
        raise LogError("malformed checkpoint: %r" % note[:200])
    return lines[0], size, root


def _get(port, path, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def fetch_checkpoint(port):
    status, body = _get(port, "/log/checkpoint")
    if status != 200:
        raise LogError("GET /log/checkpoint: HTTP %d %r" % (status, body[:300]))
    return parse_checkpoint(body.decode("utf-8"))


def fetch_entries(port, start, end):
    """[(index, text bytes, entry dict)] for [start, end), 1,000 at a time."""
    out = []
    while start < end:
        stop = min(end, start + 1000)
        status, body = _get(port, "/api/v1/log/entries?start=%d&end=%d" % (start, stop))
        if status != 200:
            raise LogError("GET /api/v1/log/entries?start=%d&end=%d: HTTP %d %r"
                           % (start, stop, status, body[:300]))
        got = json.loads(body)
        if not got:
            raise LogError("entries %d..%d: empty answer" % (start, stop))
        for k, e in enumerate(got):
            if e["index"] != start + k:
                raise LogError("entries %d..%d: entry %d comes as index %r"
                               % (start, stop, start + k, e["index"]))
            out.append((e["index"], e["text"].encode("utf-8"), e["entry"]))
        start += len(got)
    return out


def fetch_proof(port, path):
    status, body = _get(port, path)
    if status != 200:
        raise LogError("GET %s: HTTP %d %r" % (path, status, body[:300]))
    return [base64.b64decode(h) for h in json.loads(body)["proof"]]


class LogView:
    """What a monitor has seen of one log: the entries, and the checkpoints."""

    def __init__(self):
        self.texts = []          # entry bytes by index
        self.entries = []        # parsed entries by index
        self.checkpoints = []    # (size, root) in the order seen

    def check(self, port, proofs=True):
        """Fetches the checkpoint and every entry it covers; checks that the
        root is the tree of those entries, that the entries seen before are
        unchanged (the log only grew), that the new checkpoint is consistent
        with every earlier one (recomputed, and with the server's own
        consistency proof against the last), and that an inclusion proof of
        the newest entry verifies. Returns the checkpoint size."""
        _, size, root = fetch_checkpoint(port)
        if self.checkpoints and size < self.checkpoints[-1][0]:
            raise LogError("checkpoint went back from %d to %d entries"
                           % (self.checkpoints[-1][0], size))
        got = fetch_entries(port, 0, size)
        if len(got) != size:
            raise LogError("checkpoint of %d entries but %d entries served" % (size, len(got)))
        texts = [t for _, t, _ in got]
        for i, t in enumerate(self.texts[:size]):
            if texts[i] != t:
                raise LogError("entry %d changed: was %r, now %r" % (i, t[:200], texts[i][:200]))
        leaves = [leaf_hash(t) for t in texts]
        if tree_root(leaves) != root:
            raise LogError("checkpoint root of size %d is not the tree of the served entries"
                           % size)
        for osize, oroot in self.checkpoints:
            if tree_root(leaves[:osize]) != oroot:
                raise LogError("the tree of the first %d entries no longer has the root of the "
                               "checkpoint seen earlier" % osize)
        if proofs and self.checkpoints:
            osize, oroot = self.checkpoints[-1]
            if 0 < osize < size:
                proof = fetch_proof(port, "/api/v1/log/proof/consistency?from=%d&to=%d"
                                    % (osize, size))
                if not verify_consistency(osize, size, oroot, root, proof):
                    raise LogError("the server's consistency proof %d -> %d does not verify"
                                   % (osize, size))
        if proofs and size:
            proof = fetch_proof(port, "/api/v1/log/proof/inclusion?index=%d&size=%d"
                                % (size - 1, size))
            if not verify_inclusion(size - 1, size, leaves[-1], proof, root):
                raise LogError("the server's inclusion proof of entry %d does not verify"
                               % (size - 1))
        if len(texts) > len(self.texts):
            self.texts = texts
            self.entries = [e for _, _, e in got]
        if not self.checkpoints or self.checkpoints[-1] != (size, root):
            self.checkpoints.append((size, root))
        return size
