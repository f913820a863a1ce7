"""Every relative link in the repository's top-level documents points at a file that
exists, and every #fragment at an anchor of that file (an `<a id>` or a heading, slugged
as GitHub does), so shrinking or regenerating a document cannot leave a dead link."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", "BUILD.md", "results/README.md", "results/CLAIMS.md",
        "benchmarks/README.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_slug(heading):
    """GitHub's heading anchor: lower case, punctuation but '-' and '_' dropped,
    each space a '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    with open(path) as f:
        text = f.read()
    ids = set(re.findall(r'<a id="([^"]+)"', text))
    ids |= {github_slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}
    return ids


def test_github_slug_matches_hand_computed_anchors():
    assert github_slug("`report_card/` — the `cpu`-preset card") == (
        "report_card--the-cpu-preset-card")
    assert github_slug("The two commands") == "the-two-commands"


@pytest.mark.parametrize("doc", [d for d in DOCS if os.path.exists(os.path.join(ROOT, d))])
def test_relative_links_resolve(doc):
    path = os.path.join(ROOT, doc)
    with open(path) as f:
        targets = LINK.findall(f.read())
    dead = []
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                    if file_part else path)
        if not os.path.exists(resolved):
            dead.append(target)
        elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
            dead.append(target)
    assert not dead, f"{doc}: dead links {dead}"
