"""`--set key=value`: any field of a command's config dataclass from the command line.

Written once over `dataclasses.fields`, so a field added to a config is reachable
without a new flag. A key is a dotted path through nested dataclasses
(`train.trainer.lam`, `data.batch_size`) or, where that is unique, some of its
parts in order ending with the field's name (`trainer.lam`, `lam`). The method's
own config `train.trainer` has the fields of the method's class
(`tf_advnet.trainers.registry`); setting `train.method` resets it to the new
method's defaults. Values are converted from the field's annotated type: int, float,
str, bool (true/false, yes/no, 1/0), `Optional[...]` (`none` for None) and
`Tuple[X, ...]` (comma-separated, empty for ()).
"""

import dataclasses
import difflib
import typing

from tf_advnet.errors import UserError

_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


def leaf_fields(schema, prefix=""):
    """{dotted path: (annotated type, default)} of every non-dataclass field of
    `schema`, a dataclass type or instance, descending into nested dataclass fields;
    the default is `dataclasses.MISSING` for a field without one.

    A polymorphic field (metadata "selector": the field that picks its class,
    "classes": a callable returning {selector value: dataclass}, as
    `TrainConfig.trainer`) is descended into the class of the instance's value, or,
    given only the type, into every class (a key any of them has; the type and
    default of the first, no default where they differ).
    """
    instance = None
    if not isinstance(schema, type):
        instance, schema = schema, type(schema)
    hints = typing.get_type_hints(schema)
    out = {}
    for f in dataclasses.fields(schema):
        tp = hints[f.name]
        value = None if instance is None else getattr(instance, f.name)
        path = f"{prefix}{f.name}"
        if "classes" in f.metadata:
            if value is not None:
                out.update(leaf_fields(value, path + "."))
                continue
            union = {}
            for cls in f.metadata["classes"]().values():
                for key, (ktp, default) in leaf_fields(cls, path + ".").items():
                    if key in union and union[key][1] != default:
                        default = dataclasses.MISSING
                    union[key] = union.get(key, (ktp, default))[:1] + (default,)
            out.update(union)
        elif dataclasses.is_dataclass(tp):
            out.update(leaf_fields(tp if value is None else value, path + "."))
        else:
            out[path] = (tp, f.default)
    return out


def resolve(key, leaves):
    """The dotted path `key` names among `leaves` (a whole path, or some of its parts
    in order ending with the field's name, where that is unique: `lam` or
    `finetune.lam` for `finetune.train.trainer.lam`), or a one-line UserError
    that lists close matches (unknown key) or the candidates (ambiguous key)."""
    if key in leaves:
        return key
    named = [p for p in leaves if _abbreviates(key, p)]
    if len(named) == 1:
        return named[0]
    if named:
        raise UserError(f"--set {key}: ambiguous; use one of {', '.join(named)}")
    names = sorted(set(leaves) | {p.rsplit(".", 1)[-1] for p in leaves})
    close = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else "--set=help lists the keys"
    raise UserError(f"--set {key}: unknown key; {hint}")


def _abbreviates(key, path):
    """Whether `key` keeps some of `path`'s parts, in order, and its last one."""
    kp, pp = key.split("."), path.split(".")
    if kp[-1] != pp[-1]:
        return False
    rest = iter(pp[:-1])
    return all(part in rest for part in kp[:-1])


def type_name(tp):
    """How a type reads in an error message or in --set=help."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return f"{type_name(inner[0])} or none"
    if origin is tuple:
        return f"comma-separated {type_name(args[0])}s"
    return getattr(tp, "__name__", str(tp))


def coerce(key, text, tp):
    """`text` converted to `tp`, or a one-line UserError naming the key and type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union and type(None) in args:
        if text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        try:
            return coerce(key, text, inner[0])
        except UserError:
            raise UserError(f"--set {key}={text}: expected {type_name(tp)}") from None
    if origin is tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        try:
            return tuple(coerce(key, t, args[0]) for t in items)
        except UserError:
            raise UserError(f"--set {key}={text}: expected {type_name(tp)}") from None
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
    elif tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            pass
    elif tp is str:
        return text
    else:
        raise UserError(f"--set {key}: fields of type {type_name(tp)} cannot be set")
    raise UserError(f"--set {key}={text}: expected {type_name(tp)}")


def parse_sets(values, schema, reserved=None):
    """["key=value", ...] -> {dotted path: typed value} against `schema` (a dataclass
    type, or the instance the assignments will apply to); later assignments of the
    same key win. Given an instance, each key is resolved against the config as the
    assignments before it left it, so after `train.method=bat` the `trainer.*` keys
    are BAT's (and earlier `trainer.*` assignments are dropped: a new method starts
    from its defaults). `reserved` maps the paths a command fixes itself (the
    preset is chosen by --dataset) to the line that says how to change them, e.g.
    "use --dataset"."""
    current = None if isinstance(schema, type) else schema
    leaves = leaf_fields(schema)
    out = {}
    for item in values:
        if item == "help":
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item}: expected key=value, e.g. --set epochs=3")
        path = resolve(key.strip(), leaves)
        if path in (reserved or {}):
            raise UserError(f"--set {key.strip()}: {reserved[path]}")
        out[path] = coerce(path, text, leaves[path][0])
        if current is not None:
            after = apply_sets(current, {path: out[path]})
            for reset in _reset_paths(current, after):
                out = {p: v for p, v in out.items() if not p.startswith(reset + ".")}
            current, leaves = after, leaf_fields(after)
    return out


def _reset_paths(before, after, prefix=""):
    """Dotted paths of the polymorphic fields whose class differs between two
    configs of the same schema (their method changed)."""
    out = []
    for f in dataclasses.fields(before):
        a, b = getattr(before, f.name), getattr(after, f.name)
        if "classes" in f.metadata and type(a) is not type(b):
            out.append(prefix + f.name)
        elif dataclasses.is_dataclass(a) and not isinstance(a, type):
            out += _reset_paths(a, b, f"{prefix}{f.name}.")
    return out


def apply_sets(config, assignments):
    """`config` (a frozen dataclass instance) with {dotted path: value} replaced. A
    changed selector (`train.method`) first resets its polymorphic field
    (`train.trainer`) to the new class's defaults; its keys then apply to those."""
    nested, top = {}, {}
    for path, value in assignments.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    for f in dataclasses.fields(config):
        selector = f.metadata.get("selector")
        if selector in top and top[selector] != getattr(config, selector):
            cls = f.metadata["classes"]().get(top[selector])
            # An unknown selector leaves None, which validate() reports with the
            # allowed values (as for a bad --method).
            top[f.name] = None if cls is None else cls()
    for head, sub in nested.items():
        top[head] = apply_sets(top.get(head, getattr(config, head)), sub)
    return dataclasses.replace(config, **top)


def flat_overrides(assignments, rename=lambda path: path):
    """{dotted path: value} as the flat `overrides` dicts of tf_advnet.papers, whose
    override functions skip None (an unset flag): a None is refused here. Names
    `rename` maps to `trainer.<field>` gather in one dict under "trainer" (the
    `trainer=` of `tf_advnet.configs.override`)."""
    out = {}
    for path, value in assignments.items():
        if value is None:
            raise UserError(f"--set {path}=none: this command cannot set a field to "
                            "none; set it in the command that trains the model")
        name = rename(path)
        if name.startswith("trainer."):
            out.setdefault("trainer", {})[name[len("trainer."):]] = value
        else:
            out[name] = value
    return out


def experiment_flat_name(path):
    """The name `tf_advnet.configs.override` takes for an ExperimentConfig path:
    the field's own name, or `eval_<name>` where data or train has it too, or
    `trainer.<name>` for a field of the method's own config."""
    from tf_advnet.configs.base import _locate

    section, _, name = path.rpartition(".")
    if not section:
        return name  # seed, preset
    if section == "train.trainer":
        return f"trainer.{name}"
    for flat in (name, f"{section}_{name}"):
        try:
            if _locate(flat) == (section, name):
                return flat
        except UserError:
            pass
    raise UserError(f"--set {path}: this command cannot set it")


def owners(schema, prefix=""):
    """{dotted path: (selector values)} of the keys under a polymorphic field of
    `schema` (a dataclass type) that not every class has: `train.trainer.lam` ->
    ("advnet", "deepdefense", ...), the methods whose config has it."""
    hints = typing.get_type_hints(schema)
    out = {}
    for f in dataclasses.fields(schema):
        path = f"{prefix}{f.name}"
        if "classes" in f.metadata:
            classes = f.metadata["classes"]()
            have = {}
            for sel, cls in classes.items():
                for key in leaf_fields(cls, path + "."):
                    have.setdefault(key, []).append(sel)
            out.update({k: tuple(v) for k, v in have.items() if len(v) < len(classes)})
        elif dataclasses.is_dataclass(hints[f.name]):
            out.update(owners(hints[f.name], path + "."))
    return out


def describe(schema):
    """The text of --set=help: every key with its type and default (`train.trainer.*`:
    the keys of every method's config, no default where the methods' differ, and the
    methods that have it where not all do)."""
    leaves = leaf_fields(schema)
    only = owners(schema if isinstance(schema, type) else type(schema))
    width = max(len(p) for p in leaves)
    name = getattr(schema, "__name__", type(schema).__name__)
    lines = [f"--set keys of {name} (key=value; the field's name alone, or "
             "with some of the parts before it, where that is unique; the preset's "
             "values replace these defaults):"]
    for path, (tp, default) in leaves.items():
        known = "" if default is dataclasses.MISSING else f" (default {default!r})"
        which = f" [{', '.join(only[path])}]" if path in only else ""
        lines.append(f"  {path:<{width}}  {type_name(tp)}{known}{which}")
    return "\n".join(lines)
