"""A fingerprinted artifact store: nothing is reused unless what made it is unchanged.

Every artifact a pipeline makes (a trained model, an attack generator trained against
a frozen classifier, an evaluation) is filed under a key: the SHA-256 of everything
that produced it -- its config, the identity of its data (array contents, not file
names), and the keys or contents of the artifacts it depends on (a classifier's
weights, an initialisation checkpoint). Change any of them and the key changes, so
exactly what depends on the change is made again; nothing else is.

    store = Store(os.path.join(work_dir, "store"))
    entry = store.entry("pgn_eval", model=clf, data=(x, y), cfg=cfg)
    metrics = entry.json("metrics.json", lambda: evaluate(clf, x, y, cfg))

`fingerprint(obj)` canonicalises nested dicts, lists, tuples, dataclasses, NumPy
arrays, Keras models (their weights), `Entry`s (their key) and scalars into one hash.
An entry's directory holds `spec.json` (what the key was computed from, readable) and
its files; `Entry.done(name)` is true only once the file was written completely
(written to a temporary name, then renamed).
"""

import dataclasses
import hashlib
import json
import os

import numpy as np

from tf_advnet.utils.provenance import write_json

# Bump when the meaning of stored artifacts changes (a new evaluation rule): every key
# changes with it, so nothing made under the old rule is served.
STORE_VERSION = 1


# Dataclass field metadata: at its default, the field is left out of every key, so a
# field added later that changes nothing at its default keeps earlier artifacts' keys.
KEY_NEUTRAL = "key_neutral_default"


def key_neutral(field, value):
    """Whether dataclass `field` holding `value` is left out of keys (`KEY_NEUTRAL`)."""
    return bool(field.metadata.get(KEY_NEUTRAL)) and value == field.default


def _array_digest(arr):
    """SHA-256 of an array's dtype, shape and bytes (a 60,000-image training set
    takes about 0.2 s)."""
    c = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{c.dtype}{c.shape}".encode())
    h.update(memoryview(c).cast("B") if c.size else b"")
    return h.digest()


def _canonical(obj, h):
    """Feeds a canonical byte form of `obj` into hash `h`."""
    if isinstance(obj, Entry):
        h.update(b"E" + obj.key.encode())
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(b"D" + type(obj).__name__.encode())
        _canonical({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
                    if not key_neutral(f, getattr(obj, f.name))}, h)
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            _canonical(str(k), h)
            _canonical(obj[k], h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _canonical(v, h)
        h.update(b"]")
    elif isinstance(obj, np.ndarray):
        h.update(b"A" + _array_digest(obj))
    elif hasattr(obj, "numpy") and hasattr(obj, "dtype"):  # a tf.Tensor or Variable
        _canonical(np.asarray(obj), h)
    elif hasattr(obj, "get_weights") and hasattr(obj, "weights"):
        h.update(b"M")
        _canonical([np.asarray(w) for w in obj.get_weights()], h)
    elif isinstance(obj, (np.generic,)):
        _canonical(obj.item(), h)
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(("S" + json.dumps(obj)).encode())
    else:
        raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def fingerprint(*parts, **named):
    """Hex SHA-256 of `parts` and `named` (see the module docstring)."""
    h = hashlib.sha256()
    _canonical([STORE_VERSION, list(parts), named], h)
    return h.hexdigest()


def fingerprint_file(path):
    """Hex SHA-256 of a file's bytes (a checkpoint an artifact starts from)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _describe(obj):
    """A readable, JSON-able stand-in of a spec part for `spec.json`."""
    if isinstance(obj, Entry):
        return {"artifact": obj.kind, "key": obj.key}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _describe(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if len(obj) > 32 or any(isinstance(v, np.ndarray) for v in obj):
            return {"fingerprint": fingerprint(obj)}
        return [_describe(v) for v in obj]
    if isinstance(obj, np.ndarray) or hasattr(obj, "get_weights") or hasattr(obj, "numpy"):
        return {"fingerprint": fingerprint(obj)}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class Entry:
    """One artifact's directory under its key (see `Store.entry`)."""

    def __init__(self, root, kind, spec):
        self.kind = kind
        self.key = fingerprint(kind, **spec)
        self.dir = os.path.join(root, kind, self.key[:20])
        self._spec = spec
        self._values = {}

    def path(self, name):
        """Where this entry's file `name` lives (the directory is made)."""
        os.makedirs(self.dir, exist_ok=True)
        spec_path = os.path.join(self.dir, "spec.json")
        if not os.path.exists(spec_path):
            with open(spec_path, "w") as f:
                json.dump({"kind": self.kind, "key": self.key,
                           "spec": _describe(self._spec)}, f, indent=1, default=str)
        return os.path.join(self.dir, name)

    def done(self, name):
        return os.path.exists(os.path.join(self.dir, name))

    def json(self, name, compute):
        """The JSON stored under `name`, else `compute()`'s result, stored."""
        if self.done(name):
            with open(os.path.join(self.dir, name)) as f:
                return json.load(f)
        value = compute()
        write_json(self.path(name), value)
        return value

    def value(self, name, compute, *, file="values.json"):
        """The number stored under `name` in this entry's `file` (one JSON dict of
        many small values, e.g. a table's cells), else `compute()`'s, added to it;
        each new value is written at once, so an interrupted run resumes."""
        values = self._values.get(file)
        if values is None:
            values = self.json(file, dict) if self.done(file) else {}
            self._values[file] = values
        if name not in values:
            values[name] = float(compute())
            write_json(self.path(file), values)
        return values[name]

    def model(self, name, make, load):
        """The Keras model stored under `name` (loaded with `load(path)`), else
        `make()`'s model, stored."""
        if self.done(name):
            return load(os.path.join(self.dir, name))
        model = make()
        save_model_atomic(model, self.path(name))
        return model

    def __repr__(self):
        return f"Entry({self.kind!r}, {self.key[:12]})"


class Store:
    """Artifacts filed under the fingerprint of what made them (module docstring)."""

    def __init__(self, root):
        self.root = root

    def entry(self, kind, **spec):
        """The entry of an artifact of `kind` made from `spec` (hashed, see
        `fingerprint`); its files exist only if made before under the same spec."""
        return Entry(self.root, kind, spec)


def save_model_atomic(model, path):
    """`model.save(path)` via a temporary name (`.keras` kept), then renamed."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{ext}"
    model.save(tmp)
    os.replace(tmp, path)
