"""Safe save and load: NumPy ``.npz`` files, written atomically, never unpickled.

``save(obj, path)`` takes a Module (its state_dict is saved), a dict of arrays,
or a nested dict mixing arrays with numbers, strings, lists and None (a
training checkpoint). Arrays are stored as ``.npy`` members; everything else
goes into a JSON header stored as a plain unicode array, so the file is read
with ``allow_pickle=False`` and loading it can never execute code.

The file is first written to a temporary file beside the target and then
renamed over it, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from .errors import SerializationError
from .tensor import Tensor

__all__ = ["save", "load", "atomic_write"]

_HEADER = "__chainrule__"
_FORMAT = "chainrule-npz"
_VERSION = 1
_SAFE_MEMBER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")
_RESERVED = {_HEADER, "file", "allow_pickle"}  # names numpy.savez or this module use itself


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file in ``path``'s directory, then rename it to ``path``."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode an ordinary new file would get
        # (or the mode of the file it replaces)
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _encode(obj, arrays: dict, paths: dict, prefix: str):
    """JSON-able tree with arrays replaced by {"__array__": member}.

    A member is named by its path (``layers.0.weight``, ``model/0.bias``) so that
    ``numpy.load`` shows readable names; a path that is not a plain name, or that
    is taken already, gets a numbered name instead (``a0``, ``a1``, ...), so no key
    a user chooses can collide with another member or the header. ``paths`` records
    where every member came from.
    """
    if isinstance(obj, Tensor):
        obj = obj.data
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, dict):
        obj = obj.state_dict()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            raise SerializationError(f"save: '{prefix}' is an object array, which cannot be saved safely")
        key = prefix
        if not _SAFE_MEMBER.fullmatch(key) or key.endswith(".npy") or key in _RESERVED or key in arrays:
            n = len(arrays)
            while f"a{n}" in arrays:
                n += 1
            key = f"a{n}"
        arrays[key] = obj
        paths[key] = prefix
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                raise SerializationError(
                    f"save: dictionary keys must be strings or ints, got {k!r} ({type(k).__name__}) "
                    f"in '{prefix or '/'}'"
                )
            key = str(int(k)) if isinstance(k, (int, np.integer)) else k
            if key in out:
                raise SerializationError(
                    f"save: the dictionary at '{prefix or '/'}' has both the int key {key} and the string key "
                    f"'{key}'; they cannot be told apart in the file. Rename one"
                )
            out[key] = _encode(v, arrays, paths, f"{prefix}/{key}" if prefix else key)
        return {"__dict__": out, "__int_keys__": [str(int(k)) for k in obj if isinstance(k, (int, np.integer))]}
    if isinstance(obj, (list, tuple)):
        return {
            "__list__": [_encode(v, arrays, paths, f"{prefix}/{i}") for i, v in enumerate(obj)],
            "__tuple__": isinstance(obj, tuple),
        }
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise SerializationError(f"save: cannot store a {type(obj).__name__} at '{prefix}' without pickling")


def _decode(tree, arrays):
    if isinstance(tree, dict):
        if "__array__" in tree:
            try:
                return arrays[tree["__array__"]]
            except (KeyError, TypeError):
                raise SerializationError(
                    f"load: the file's header names an array member {tree['__array__']!r} that the file "
                    "does not contain; the file is corrupt"
                ) from None
        if "__dict__" in tree:
            ints = set(tree.get("__int_keys__", ()))
            return OrderedDict((int(k) if k in ints else k, _decode(v, arrays)) for k, v in tree["__dict__"].items())
        if "__list__" in tree:
            items = [_decode(v, arrays) for v in tree["__list__"]]
            return tuple(items) if tree.get("__tuple__") else items
    return tree


def save(obj, path) -> None:
    """Save a Module's weights, a state dict, or a nested checkpoint dict to ``path`` (.npz)."""
    arrays: dict = {}
    paths: dict = {}
    tree = _encode(obj, arrays, paths, "")
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree, "paths": paths})
    members = {_HEADER: np.array(header)}
    members.update(arrays)

    def write(f):
        np.savez(f, **members)

    atomic_write(path, write)


def load(path):
    """Load what :func:`save` wrote. Raises SerializationError for a truncated or foreign file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise SerializationError(
            f"load: {path} is a single NumPy array (.npy), not a chainrule archive; read it with numpy.load"
        )
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        what = "empty" if not magic else "truncated" if len(magic) < 4 else "not a .npz (zip) archive"
        raise SerializationError(f"load: {path} is not a chainrule file ({what}); it was not written by chainrule.save")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = z.files
            if _HEADER not in names:
                raise SerializationError(
                    f"load: {path} is a NumPy archive but was not written by chainrule.save (it has no "
                    f"'{_HEADER}' header; it holds {', '.join(names[:5]) or 'nothing'}). Read it with numpy.load"
                )
            header = json.loads(str(z[_HEADER]))
            arrays = {k: z[k] for k in names if k != _HEADER}
    except SerializationError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as e:
        raise SerializationError(
            f"load: {path} is not a complete chainrule file (truncated or corrupt: {type(e).__name__}: {e})"
        ) from None
    except ValueError as e:
        if "pickle" in str(e):
            raise SerializationError(
                f"load: {path} contains pickled data; chainrule never unpickles files, since that can run "
                "arbitrary code"
            ) from None
        raise SerializationError(f"load: {path} could not be read: {e}") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        fmt = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise SerializationError(f"load: {path} has an unknown format {fmt!r}; it was not written by chainrule.save")
    version = header.get("version", 0)
    if not isinstance(version, int) or "tree" not in header:
        raise SerializationError(
            f"load: {path} has a corrupt header (version {version!r}, tree present: "
            f"{'tree' in header}); the file is damaged"
        )
    if version > _VERSION:
        raise SerializationError(
            f"load: {path} was written by a newer chainrule (format version {version}); upgrade chainrule"
        )
    try:
        return _decode(header["tree"], arrays)
    except SerializationError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise SerializationError(
            f"load: {path} has a corrupt header ({type(e).__name__}: {e}); the file is damaged"
        ) from None
