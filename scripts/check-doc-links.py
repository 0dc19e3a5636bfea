#!/usr/bin/env python3
"""Checks every relative link of the README, docs/*.md and clients/python/README.md:
the file exists and, for a #anchor into a Markdown file, a heading makes that
anchor (GitHub's rule: lower case, punctuation dropped, spaces to '-').
Exit 1 naming each broken link. ctest: docs.links."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def slug(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def main():
    os.chdir(ROOT)
    files = ["README.md", "clients/python/README.md"] + sorted(glob.glob("docs/*.md"))
    anchors = {os.path.normpath(f): {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", open(f).read(), re.M)}
               for f in files}
    broken = []
    for f in files:
        text = open(f).read()
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            link = m.group(1)
            if re.match(r"[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else os.path.normpath(f)
            line = text[: m.start()].count("\n") + 1
            if not os.path.exists(target):
                broken.append(f"{f}:{line}: {link}: no such file")
            elif anchor and target.endswith(".md") and anchor not in anchors.get(target, set()):
                broken.append(f"{f}:{line}: {link}: no heading makes #{anchor}")
    for b in broken:
        print(b)
    print(f"{len(broken)} broken links in {len(files)} documents")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
