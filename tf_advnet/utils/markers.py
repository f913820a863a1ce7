"""Generated sections of hand-written Markdown (the README's report card and claims
ledger): the text between `<!-- name -->` and `<!-- /name -->` is replaced."""


def replace_between(path, name, body):
    """Puts `body` between the file's `<!-- name -->` and `<!-- /name -->` lines;
    returns False (file unchanged) where either marker is missing."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        return False
    a, b = text.index(begin) + len(begin), text.index(end)
    new = text[:a] + "\n" + body.rstrip("\n") + "\n" + text[b:]
    if new != text:
        with open(path, "w") as f:
            f.write(new)
    return True


def between(path, name):
    """The text between the file's markers (None where either is missing)."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        return None
    return text[text.index(begin) + len(begin):text.index(end)].strip("\n")
