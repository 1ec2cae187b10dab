# SPDX-License-Identifier: Apache-2.0
"""Every file the documentation points at exists in the repository: the
targets of Markdown links and the `path/like.ext` names in backticks in
README.md and docs/ (issue 12: docs linked to DESIGN.md and
shared/research/..., which are not in the repository). A name is looked up
beside the document, at the top of the repository and under src/ (the
documents write src/ paths both ways)."""
import os
import re
import unittest

import sluicetest as st

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXT = (".md", ".c", ".h", ".py", ".json", ".sh", ".cmake", ".txt", ".tsv", ".mjs")


def documents():
    out = [os.path.join(ROOT, "README.md")]
    for d, _, fs in os.walk(os.path.join(ROOT, "docs")):
        out += [os.path.join(d, f) for f in sorted(fs) if f.endswith(".md")]
    return out


def references(text):
    """(target, line) of links and backticked file names."""
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        t = m.group(1)
        if re.match(r"[a-z]+:", t) or t.startswith("#"):
            continue
        yield t.split("#")[0], text.count("\n", 0, m.start()) + 1
    for m in re.finditer(r"`([^`\s]+)`", text):
        t = m.group(1)
        line_end = text.find("\n", m.end())
        if "<!-- names, not files -->" in text[text.rfind("\n", 0, m.start()) + 1:line_end]:
            continue  # e.g. entry names inside a bundle
        if not t.endswith(EXT) or any(c in t for c in "*{}<>$[]|,=:"):
            continue
        if t.startswith(("-", "/", "~")) or (t.startswith(".") and not t.startswith("../")):
            continue
        if "/" not in t and not t.endswith(".md"):
            continue
        yield t, text.count("\n", 0, m.start()) + 1


def exists(doc, target):
    here = os.path.dirname(doc)
    return any(os.path.exists(os.path.normpath(os.path.join(base, target)))
               for base in (here, ROOT, os.path.join(ROOT, "src")))


class DocLinks(unittest.TestCase):

    def test_every_referenced_file_exists(self):
        missing = []
        n = 0
        for doc in documents():
            with open(doc, encoding="utf-8") as f:
                text = f.read()
            for target, line in references(text):
                n += 1
                if target and not exists(doc, target):
                    missing.append("%s:%d: %s" % (os.path.relpath(doc, ROOT), line, target))
        self.assertGreater(n, 50, "the scan found almost no references: is ROOT right?")
        self.assertEqual(missing, [], "documents point at files not in the repository")

    def test_the_check_catches_a_missing_file(self):
        # the scanner itself: a dangling link and a dangling name are found
        text = "see [x](nowhere/at-all.md) and `shared/research/none.md`, not `docs/cli.md`"
        refs = [t for t, _ in references(text)]
        self.assertEqual(refs, ["nowhere/at-all.md", "shared/research/none.md", "docs/cli.md"])
        doc = os.path.join(ROOT, "docs", "api.md")
        self.assertFalse(exists(doc, refs[0]))
        self.assertFalse(exists(doc, refs[1]))
        self.assertTrue(exists(doc, refs[2]))


if __name__ == "__main__":
    st.main()
