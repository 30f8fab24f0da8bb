"""Safe save and load: NumPy ``.npz`` files and safetensors files, written atomically, never unpickled.

The format follows the file name: a path ending in ``.safetensors`` (any case) is a safetensors file
(see "safetensors" below); any other path is chainrule's ``.npz`` archive, whatever its extension
(``model.npz``, ``checkpoint.npz``, ``weights.bin``: all the same zip of ``.npy`` members).

``save(obj, path)`` takes a Module (its state_dict is saved), a dict of arrays,
or a nested dict mixing arrays with numbers, strings, lists and None (a
training checkpoint). Arrays are stored as ``.npy`` members; everything else
goes into a JSON header stored as a plain unicode array, so loading a file can
never execute code: an object (pickled) member is refused, never unpickled.

The file is first written to a temporary file beside the target and then
renamed over it, so a crash mid-write leaves the previous file intact. A
process killed mid-write (``kill -9``) cannot remove its temporary file
(``.NAME.XXXXXXXX.tmp``); :func:`remove_stale_temps` does, and a training run
calls it when it starts again in its directory.

``load`` reads a file of unknown origin within bounds: every member's ``.npy``
header is parsed first (a few bytes each), and the declared sizes are checked
before anything large is allocated:

* the members together (the JSON header included) may declare at most
  ``max_bytes`` (default :data:`MAX_LOAD_BYTES`, 4 GiB); a member declaring
  shape ``(10**12,)`` is a SerializationError naming the file, the member, its
  shape, dtype and bytes, and the knob to raise;
* each member's size in the zip directory must equal its ``.npy`` header plus
  the bytes its shape and dtype declare, so a deflate bomb (a small compressed
  stream expanding to more than it declares) and a truncated member are refused;
  the data are then decompressed in chunks straight into the preallocated array,
  and never past the size the directory gives;
* the JSON header may declare at most :data:`MAX_HEADER_BYTES` and nest at most
  :data:`MAX_HEADER_DEPTH` brackets deep (a checkpoint needs fewer than 20);
  ``save`` refuses to write anything deeper, so whatever it writes loads;
* only members stored plainly or deflated (what ``numpy.savez`` and
  ``numpy.savez_compressed`` write) are read.

safetensors (the optional extra ``safetensors``): the file holds a flat dict of name -> array, a
state_dict, with PyTorch's names and layouts (chainrule's state_dict keys and shapes are PyTorch's), so

* ``safetensors.torch.load_file("m.safetensors")`` gives what ``torch_model.load_state_dict`` takes for the
  equivalent PyTorch model, and
* ``model.load_state_dict(cr.load("m.safetensors"))`` reads a file that
  ``safetensors.torch.save_file(torch_model.state_dict(), "m.safetensors")`` wrote.

A nested checkpoint (an optimizer's state, numbers, lists) is refused with a SerializationError naming the
key: safetensors holds arrays only, and such checkpoints go to ``.npz`` paths. dtypes: bool, the ints and
uints of 8 to 64 bits, float16/32/64; a file holding another (BF16, the 8-bit floats, complex) is refused
with the tensor's name and dtype, never converted. The header's ``__metadata__`` (text only) gets
``format: pt`` (the safetensors convention for PyTorch's layouts, which Hugging Face's loaders check),
``chainrule.version``, ``chainrule.module`` (the model's repr, when a Module is saved) and whatever
``metadata=`` adds; :func:`load_metadata` reads it back (for .npz files too, whose JSON header holds the same
pairs, less ``format``). ``load`` checks the header before the safetensors library reads anything: its
8-byte length against :data:`MAX_HEADER_BYTES` (before the header is read), its JSON's nesting against
:data:`MAX_HEADER_DEPTH`, every tensor's dtype, shape and byte range (the ranges must tile the data exactly,
and end where the file ends), and the bytes declared in all against ``max_bytes``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import struct
import sys
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from io import BytesIO
from typing import NamedTuple

import numpy as np

from .checks import format_bytes
from .errors import ArgumentError, ArgumentTypeError, SerializationError, missing
from .tensor import Tensor

__all__ = [
    "save",
    "load",
    "load_metadata",
    "atomic_write",
    "remove_stale_temps",
    "MAX_LOAD_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
]

#: The most bytes ``load`` allocates for one file: the sizes its members' ``.npy`` headers declare,
#: all together (``load(path, max_bytes=...)`` overrides it for one call).
MAX_LOAD_BYTES = 4 << 30
#: The most bytes the file's JSON header may declare (stored as UTF-32 text: 4 bytes a character,
#: so 32 MiB is 8 million characters; a checkpoint's is a few KiB plus ~300 bytes per epoch of history).
MAX_HEADER_BYTES = 32 << 20
#: The deepest bracket nesting the JSON header may have (a training checkpoint's is about 12).
MAX_HEADER_DEPTH = 100

_HEADER = "__chainrule__"
_FORMAT = "chainrule-npz"
_VERSION = 1
_SAFE_MEMBER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")
_RESERVED = {_HEADER, "file", "allow_pickle"}  # names numpy.savez or this module use itself
_NPY_HEADER_BYTES = 1 << 16  # a .npy header's own text (numpy itself refuses more than 10,000 characters)
_CHUNK = 1 << 20  # decompressed bytes read at a time
#: what tempfile.mkstemp puts between atomic_write's prefix and suffix: 8 characters of this alphabet
_TEMP_RANDOM = "[a-z0-9_]{8}"


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file in ``path``'s directory, then rename it to ``path``.

    The temporary file is ``.NAME.XXXXXXXX.tmp`` (NAME: ``path``'s base name; the 8 characters are
    tempfile's random part). It is removed when ``write`` raises; only a process killed outright
    leaves it behind, for :func:`remove_stale_temps` to remove.
    """
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


def remove_stale_temps(path) -> list[str]:
    """Remove the temporary files interrupted :func:`atomic_write` calls for ``path`` left behind.

    Only regular files (not links, not directories) in ``path``'s own directory whose name is
    exactly ``.NAME.XXXXXXXX.tmp`` (NAME: ``path``'s base name, X: tempfile's 8 random characters
    ``[a-z0-9_]``) are removed; any other file, such as ``.NAME.notes.tmp``, stays. Returns the
    paths removed. Removal is best effort: a file that cannot be removed is left.

    Call it only where no other process may be writing ``path`` at the same time: the temporary
    file of a write in progress looks the same as a stale one. A training run starting again in its
    own directory is its only writer (:class:`chainrule.train.Trainer` calls this for its
    checkpoint when created with a ``checkpoint_dir``).
    """
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    name = re.compile(re.escape("." + os.path.basename(path) + ".") + _TEMP_RANDOM + re.escape(".tmp"))
    try:
        entries = [e for e in os.scandir(d) if name.fullmatch(e.name)]
    except OSError:  # no such directory (nothing was ever written there), or not readable
        return []
    removed = []
    for e in entries:
        try:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed.append(e.path)
        except OSError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _max_nesting() -> int:
    """How many dicts/lists deep ``save`` may nest: each takes two JSON levels, the header and an
    array leaf one each, so the file's header stays within MAX_HEADER_DEPTH."""
    return (MAX_HEADER_DEPTH - 2) // 2


def _encode(obj, arrays: dict, paths: dict, prefix: str, depth: int = 0):
    """JSON-able tree with arrays replaced by {"__array__": member}.

    A member is named by its path (``layers.0.weight``, ``model/0.bias``) so that
    ``numpy.load`` shows readable names; a path that is not a plain name, or that
    is taken already, gets a numbered name instead (``a0``, ``a1``, ...), so no key
    a user chooses can collide with another member or the header. ``paths`` records
    where every member came from.
    """
    if isinstance(obj, Tensor):
        obj = obj.data
    if _is_module(obj):
        obj = obj.state_dict()
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:  # an object array, or a structured one with an object field: numpy would pickle it
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
    if isinstance(obj, (dict, list, tuple)) and depth >= _max_nesting():
        raise SerializationError(
            f"save: '{prefix or '/'}' is nested more than {_max_nesting()} dicts/lists deep (does a list or dict "
            f"contain itself?); load refuses headers nested deeper than chainrule.io.MAX_HEADER_DEPTH "
            f"= {MAX_HEADER_DEPTH} levels"
        )
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
            out[key] = _encode(v, arrays, paths, f"{prefix}/{key}" if prefix else key, depth + 1)
        return {"__dict__": out, "__int_keys__": [str(int(k)) for k in obj if isinstance(k, (int, np.integer))]}
    if isinstance(obj, (list, tuple)):
        return {
            "__list__": [_encode(v, arrays, paths, f"{prefix}/{i}", depth + 1) for i, v in enumerate(obj)],
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


def save(obj, path, metadata: Mapping[str, str] | None = None) -> None:
    """Save a Module's weights, a state dict, or a nested checkpoint dict to ``path``, atomically.

    A path ending in ``.safetensors`` writes a safetensors file: a Module or a flat dict of name -> array
    (a state_dict) only, with PyTorch's names and layouts; any other path writes chainrule's ``.npz``
    archive, which also holds nested checkpoints (see the module's description).

    ``metadata``: text pairs (str -> str) stored in the file's header beside chainrule's own
    (``chainrule.version``; ``chainrule.module``, the model's repr, when a Module is saved; ``format: pt``
    in a safetensors file); yours win where the names meet. Read them back with :func:`load_metadata`.
    """
    user = _user_metadata(metadata)
    if _is_safetensors(path):
        _save_safetensors(obj, os.fspath(path), _file_metadata(obj, user, safetensors=True))
        return
    meta = _file_metadata(obj, user, safetensors=False)
    arrays: dict = {}
    paths: dict = {}
    tree = _encode(obj, arrays, paths, "")
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree, "paths": paths, "metadata": meta})
    members = {_HEADER: np.array(header)}
    members.update(arrays)

    def write(f):
        # numpy.savez's layout (one stored .npy member per array), written here so that the zip file is
        # closed on an error too: NumPy 1.x's savez leaves it open, and its finaliser then prints an
        # ignored exception at exit after a failed write (a full disk)
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in members.items():
                with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    atomic_write(path, write)


def load(path, max_bytes: int | None = None):
    """Load what :func:`save` wrote. Raises SerializationError for a truncated, foreign or hostile file.

    The format follows the name, as for :func:`save`: a ``.safetensors`` path gives a dict of name ->
    array (an OrderedDict in the order of the file's data), any other path what was saved to it.

    ``max_bytes`` (default :data:`MAX_LOAD_BYTES`, 4 GiB) bounds the bytes the file's members may
    declare together (its JSON header included); it is checked, with every member's size, before
    anything large is allocated (see the module's description). A file within the limits that
    still does not fit in memory raises MemoryError naming the member.
    """
    path = os.fspath(path)
    limit = _byte_limit(max_bytes)
    if _is_safetensors(path):
        return _load_safetensors(path, limit)
    _check_kind(path)
    with _npz_errors(path):
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, path, limit)
            header = _read_header(zf, members.pop(_HEADER), path)
            _check_header(header, path)
            arrays = {name: _read_array(zf, m, path) for name, m in members.items()}
    try:
        return _decode(header["tree"], arrays)
    except SerializationError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise SerializationError(
            f"load: {path} has a corrupt header ({type(e).__name__}: {e}); the file is damaged"
        ) from None


def load_metadata(path) -> dict[str, str]:
    """The text pairs in the header of a file :func:`save` wrote, either format, reading no array.

    ``chainrule.version``, ``chainrule.module`` (the saved model's repr), ``format`` (``pt``, in a
    safetensors file) and what ``save(..., metadata=...)`` added; a model a training run saved
    (``model.npz``) has its run's configuration as JSON under ``chainrule.run_config``
    (``chainrule.runs.RunConfig.from_json`` reads it). A safetensors file written elsewhere has what its
    writer put there ({} when nothing); so has an .npz file of an older chainrule ({}). Reading it
    does not need the safetensors package.
    """
    path = os.fspath(path)
    if _is_safetensors(path):
        header, _ = _st_header(path)
        return _st_metadata(header, path)
    _check_kind(path)
    with _npz_errors(path):
        with zipfile.ZipFile(path) as zf:
            # the arrays are not read: only the header's size (MAX_HEADER_BYTES) matters here
            members = _members(zf, path, sys.maxsize)
            header = _read_header(zf, members[_HEADER], path)
            _check_header(header, path)
    meta = header.get("metadata", {})
    if not _is_text_pairs(meta):
        raise SerializationError(f"load_metadata: {path} has a corrupt header (its metadata is not text pairs)")
    return dict(meta)


@contextlib.contextmanager
def _npz_errors(path: str):
    """Reading an .npz archive: what zipfile, zlib and json raise becomes a SerializationError naming ``path``."""
    try:
        yield
    except SerializationError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, struct.error, zlib.error, json.JSONDecodeError) as e:
        raise SerializationError(
            f"load: {path} is not a complete chainrule file (truncated or corrupt: {type(e).__name__}: {e})"
        ) from None
    except ValueError as e:
        raise SerializationError(f"load: {path} could not be read: {e}") from None


def _is_safetensors(path) -> bool:
    return os.fsdecode(path).lower().endswith(".safetensors")


def _is_text_pairs(d) -> bool:
    return isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())


def _user_metadata(metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ArgumentTypeError(f"save: metadata must be a dict of str -> str, got a {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ArgumentTypeError(
                f"save: metadata must map strings to strings (a safetensors header holds text only); got "
                f"{k!r} -> {v!r} ({type(k).__name__} -> {type(v).__name__}); pass json.dumps(value) for anything else"
            )
    return dict(metadata)


def _file_metadata(obj, metadata: dict, safetensors: bool) -> dict[str, str]:
    """chainrule's own header pairs, then the user's (which win where the names meet)."""
    meta = {"format": "pt"} if safetensors else {}
    meta["chainrule.version"] = sys.modules[__package__].__version__
    if _is_module(obj):
        meta["chainrule.module"] = repr(obj)
    meta.update(metadata)
    return meta


def _is_module(obj) -> bool:
    return hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, dict)


def _byte_limit(max_bytes) -> int:
    if max_bytes is None:
        return MAX_LOAD_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise ArgumentTypeError(f"load: max_bytes must be a whole number of bytes, got {max_bytes!r}")
    if max_bytes < 0:
        raise ArgumentError(f"load: max_bytes must be >= 0, got {max_bytes}")
    return int(max_bytes)


def _check_kind(path: str) -> None:
    """Refuse what is not a zip archive by its first bytes (a missing file is a FileNotFoundError)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(9)
    if magic.startswith(b"\x93NUMPY"):
        raise SerializationError(
            f"load: {path} is a single NumPy array (.npy), not a chainrule archive; read it with numpy.load"
        )
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        what = "empty" if not magic else "truncated" if len(magic) < 4 else "not a .npz (zip) archive"
        if len(magic) == 9 and magic[8:] == b"{" and struct.unpack("<Q", magic[:8])[0] <= MAX_HEADER_BYTES:
            what += "; it looks like a safetensors file: give it a name ending in .safetensors"
        raise SerializationError(f"load: {path} is not a chainrule file ({what}); it was not written by chainrule.save")


def _check_header(header, path: str) -> None:
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


# ----------------------------------------------------------------------------- reading members within bounds
class _Member(NamedTuple):
    info: zipfile.ZipInfo
    shape: tuple
    fortran: bool
    dtype: np.dtype
    offset: int  # where the data start in the member's decompressed stream (the .npy header's length)
    nbytes: int  # the bytes its shape and dtype declare

    def __str__(self) -> str:
        return f"member {self.info.filename[:-4]!r} (shape {self.shape}, dtype {self.dtype})"


def _members(zf: zipfile.ZipFile, path: str, limit: int) -> dict[str, _Member]:
    """Every member's .npy header, parsed and checked against the limits; nothing large is read yet."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if _HEADER + ".npy" not in names:
        shown = [n.removesuffix(".npy") for n in names]
        raise SerializationError(
            f"load: {path} is a NumPy archive but was not written by chainrule.save (it has no "
            f"'{_HEADER}' header; it holds {', '.join(shown[:5]) or 'nothing'}). Read it with numpy.load"
        )
    members: dict[str, _Member] = {}
    total = 0
    for info in infos:
        _check_entry(info, path)
        if info.filename[:-4] in members:
            raise SerializationError(f"load: {path} has two members named {info.filename!r}; the file is corrupt")
        m = _member(zf, info, path)
        _check_member(m, path, limit)
        total += m.nbytes
        if total > limit:
            raise SerializationError(
                f"load: {path}: its members up to {m} declare {format_bytes(total)} ({total} bytes) together, more "
                f"than the {format_bytes(limit)} load allows; if the file is trusted and the memory is there, pass a "
                "larger max_bytes= to chainrule.io.load or raise chainrule.io.MAX_LOAD_BYTES"
            )
        members[info.filename[:-4]] = m
    return members


def _check_entry(info: zipfile.ZipInfo, path: str) -> None:
    """Only .npy members, stored or deflated (as numpy.savez writes them), are read."""
    if not info.filename.endswith(".npy"):
        raise SerializationError(
            f"load: {path} holds a member {info.filename!r} that is not a .npy array; it was not written by "
            "chainrule.save"
        )
    if info.flag_bits & 0x1:
        raise SerializationError(f"load: {path}: member {info.filename!r} is encrypted; chainrule.save never is")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise SerializationError(
            f"load: {path}: member {info.filename!r} is compressed with zip method {info.compress_type}; "
            "chainrule.save (numpy.savez) writes members stored or deflated only, and load reads no other"
        )


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> _Member:
    with zf.open(info) as f:
        try:
            shape, fortran, dtype, offset = _npy_header(f)
        except (ValueError, SyntaxError, TypeError, RecursionError) as e:
            raise SerializationError(
                f"load: {path}: member {info.filename!r} does not start with a valid .npy header "
                f"({type(e).__name__}: {e}); the file is corrupt"
            ) from None
    return _Member(info, shape, fortran, dtype, offset, _count(shape) * dtype.itemsize)


def _npy_header(f) -> tuple[tuple, bool, np.dtype, int]:
    """shape, fortran_order, dtype and the header's length, reading the header's bytes only (at most 64 KiB).

    The header's length field is checked before its text is read: numpy's own readers read it first,
    whatever it says (up to 4 GiB in format 2.0).
    """
    magic = _read_exact(f, np.lib.format.MAGIC_LEN)
    version = np.lib.format.read_magic(BytesIO(magic))
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    length_field = _read_exact(f, 2 if version == (1, 0) else 4)
    (length,) = struct.unpack("<H" if version == (1, 0) else "<I", length_field)
    if length > _NPY_HEADER_BYTES:
        raise ValueError(f"its .npy header says it is {length} bytes long; a .npy header is at most a few hundred")
    text = _read_exact(f, length)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(BytesIO(length_field + text))
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(BytesIO(length_field + text))
    else:  # 3.0 (UTF-8 field names of a structured dtype), which numpy reads through no public function
        shape, fortran, dtype = _npy_header_3_0(text.decode("utf-8"))
    return shape, fortran, dtype, len(magic) + len(length_field) + length


def _npy_header_3_0(text: str) -> tuple[tuple, bool, np.dtype]:
    d = ast.literal_eval(text)
    if not isinstance(d, dict) or set(d) != set(np.lib.format.EXPECTED_KEYS):
        raise ValueError(f"the header is not a dict of {sorted(np.lib.format.EXPECTED_KEYS)}: {text[:200]!r}")
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape):
        raise ValueError(f"shape is not valid: {shape!r}")
    if not isinstance(fortran, bool):
        raise ValueError(f"fortran_order is not a valid bool: {fortran!r}")
    return shape, fortran, np.lib.format.descr_to_dtype(d["descr"])


def _check_member(m: _Member, path: str, limit: int) -> None:
    if m.dtype.hasobject:
        raise SerializationError(
            f"load: {path} contains pickled data ({m}); chainrule never unpickles files, since that can run "
            "arbitrary code"
        )
    if any(n < 0 for n in m.shape):
        raise SerializationError(f"load: {path}: {m} has a negative dimension; the file is corrupt")
    if m.nbytes > limit:
        raise SerializationError(
            f"load: {path}: {m} declares {format_bytes(m.nbytes)} ({m.nbytes} bytes), more than the "
            f"{format_bytes(limit)} load allows; if the file is trusted and the memory is there, pass a larger "
            "max_bytes= to chainrule.io.load or raise chainrule.io.MAX_LOAD_BYTES"
        )
    if any(n > sys.maxsize for n in m.shape):
        raise SerializationError(f"load: {path}: {m} has a dimension no array can have; the file is corrupt")
    if m.info.filename == _HEADER + ".npy":
        if m.dtype.kind != "U" or m.shape != ():
            raise SerializationError(f"load: {path} has a corrupt header: {m} where a text was expected")
        if m.nbytes > MAX_HEADER_BYTES:
            raise SerializationError(
                f"load: {path}: its header declares {format_bytes(m.nbytes)} ({m.nbytes} bytes), more than the "
                f"{format_bytes(MAX_HEADER_BYTES)} chainrule.io.MAX_HEADER_BYTES allows; if the file is trusted, "
                "raise it"
            )
    declared = m.offset + m.nbytes
    if m.info.file_size > declared:
        raise SerializationError(
            f"load: {path}: {m} decompresses to {m.info.file_size} bytes, more than the {declared} its .npy header "
            "declares; a member longer than it says (a decompression bomb, or data appended) is refused: the file "
            "was not written by chainrule.save"
        )
    if m.info.file_size < declared:
        raise SerializationError(
            f"load: {path} is not a complete chainrule file: {m} holds {m.info.file_size} bytes, fewer than the "
            f"{declared} its .npy header declares (truncated)"
        )


def _read_array(zf: zipfile.ZipFile, m: _Member, path: str) -> np.ndarray:
    """The member's data, decompressed a chunk at a time into an array of the declared (checked) size."""
    try:
        flat = np.ndarray(_count(m.shape), m.dtype)  # (np.empty gets zero-width string dtypes wrong)
    except MemoryError:
        raise MemoryError(
            f"load: {path}: not enough memory for {m}: {format_bytes(m.nbytes)} ({m.nbytes} bytes)"
        ) from None
    with zf.open(m.info) as f:
        _read_exact(f, m.offset)  # the header, parsed already
        if m.nbytes:
            buf = memoryview(flat.view(np.uint8))
            for start in range(0, m.nbytes, _CHUNK):
                buf[start : start + _CHUNK] = _read_exact(f, min(_CHUNK, m.nbytes - start))
    return flat.reshape(m.shape[::-1]).T if m.fortran else flat.reshape(m.shape)


def _count(shape) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError(f"a member's data ended {n - len(data)} bytes early")
    return data


def _read_header(zf: zipfile.ZipFile, m: _Member, path: str):
    """The JSON header, its nesting checked before json.loads (whose recursion it bounds) parses it."""
    text = _read_array(zf, m, path).item()
    depth = _json_depth(text)
    if depth > MAX_HEADER_DEPTH:
        raise SerializationError(
            f"load: {path}: its header nests {depth} levels deep, more than the {MAX_HEADER_DEPTH} "
            "chainrule.io.MAX_HEADER_DEPTH allows (a checkpoint needs about 12); it was not written by chainrule.save"
        )
    return json.loads(text)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _json_depth(text: str) -> int:
    """The deepest nesting of brackets in JSON ``text`` (those inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    codes = np.frombuffer(brackets, np.uint8)
    steps = ((codes == ord("[")) | (codes == ord("{"))).astype(np.int32) * 2 - 1
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


# ----------------------------------------------------------------------------- safetensors
#: safetensors' dtype names -> NumPy's, for the dtypes chainrule's tensors hold (the rest are refused)
_ST_DTYPES = {
    "BOOL": np.bool_,
    "U8": np.uint8,
    "I8": np.int8,
    "U16": np.uint16,
    "I16": np.int16,
    "U32": np.uint32,
    "I32": np.int32,
    "U64": np.uint64,
    "I64": np.int64,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
}
_ST_CODES = {np.dtype(t): code for code, t in _ST_DTYPES.items()}
_ST_METADATA = "__metadata__"
_ST_LENGTH = 8  # the header's length: a little-endian unsigned 64-bit number before the JSON
_ST_FIELDS = {"dtype", "shape", "data_offsets"}
#: why a safetensors dtype chainrule refuses is refused
_ST_WHY = {
    "BF16": "bfloat16, which NumPy has not",
    "C64": "complex numbers; chainrule's tensors are real",
    "C128": "complex numbers; chainrule's tensors are real",
}


class _StTensor(NamedTuple):
    name: str
    dtype: np.dtype
    shape: tuple
    begin: int  # the byte range of its data, counted from the end of the header
    end: int

    def __str__(self) -> str:
        return f"tensor {self.name!r} (shape {self.shape}, dtype {self.dtype})"


def _safetensors():
    """The safetensors package (its numpy module loaded), or the error that names the extra to install."""
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401 - safetensors.numpy.save is used
    except ImportError:
        raise missing("safetensors", "safetensors", "reading/writing .safetensors files") from None
    return safetensors


def _save_safetensors(obj, path: str, metadata: dict) -> None:
    """A flat dict of arrays (a state_dict) as a safetensors file, written atomically."""
    st = _safetensors()
    tensors = _flat_arrays(obj, path)
    data = st.numpy.save(tensors, metadata=metadata)
    (length,) = struct.unpack("<Q", data[:_ST_LENGTH])
    if length > MAX_HEADER_BYTES:
        raise SerializationError(
            f"save: {path}: the safetensors header would take {format_bytes(length)} ({length} bytes), more than the "
            f"{format_bytes(MAX_HEADER_BYTES)} chainrule.io.MAX_HEADER_BYTES lets load read; keep the metadata short"
        )
    atomic_write(path, lambda f: f.write(data))


def _flat_arrays(obj, path: str) -> dict[str, np.ndarray]:
    """name -> contiguous little-endian array, for safetensors; anything else is refused, naming its key."""
    if _is_module(obj):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise SerializationError(
            f"save: {path}: a .safetensors file holds a flat dict of name -> array (a Module's state_dict), not "
            f"an object of type {type(obj).__name__}; pass {{'name': array}}, or save it to a .npz path"
        )
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or key == _ST_METADATA:
            raise SerializationError(
                f"save: {path}: safetensors names tensors with strings other than {_ST_METADATA!r}; got the key "
                f"{key!r} ({type(key).__name__}); rename it, or save to a .npz path"
            )
        out[key] = _st_array(key, value, path)
    return out


def _st_array(key: str, value, path: str) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    elif isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise SerializationError(
            f"save: {path}: '{key}' is not an array (it is of type {type(value).__name__}); a .safetensors file "
            "holds a flat dict of name -> array (a state_dict). Save nested checkpoints (an optimizer's state, "
            "numbers, lists) to a .npz path"
        )
    if value.dtype.newbyteorder("=") not in _ST_CODES:
        raise SerializationError(
            f"save: {path}: '{key}' has dtype {value.dtype}, which a .safetensors file of chainrule's cannot hold "
            f"(it holds {', '.join(str(np.dtype(t)) for t in _ST_DTYPES.values())}); convert it, or save to "
            "a .npz path"
        )
    # the safetensors library copies data_ptr .. data_ptr + nbytes: the array must be one contiguous block
    # (np.ascontiguousarray would make a 0-d array, num_batches_tracked, 1-d)
    return value.astype(value.dtype.newbyteorder("<"), order="C", copy=False)


def _load_safetensors(path: str, limit: int) -> OrderedDict:
    """The tensors of a safetensors file, its header checked first (see the module's description)."""
    st = _safetensors()
    header, start = _st_header(path)
    _st_metadata(header, path)
    tensors = _st_tensors(header, path, limit, start)
    try:
        with st.safe_open(path, framework="np") as f:
            return OrderedDict((t.name, _st_read(f, t, path)) for t in tensors)
    except (st.SafetensorError, OSError, ValueError, TypeError, KeyError) as e:
        raise SerializationError(
            f"load: {path} could not be read as a safetensors file ({type(e).__name__}: {e}); the file is corrupt"
        ) from None


def _st_read(f, t: _StTensor, path: str) -> np.ndarray:
    try:
        a = f.get_tensor(t.name)
    except MemoryError:
        nbytes = t.end - t.begin
        raise MemoryError(f"load: {path}: not enough memory for {t}: {format_bytes(nbytes)} ({nbytes} bytes)") from None
    if a.dtype != t.dtype or a.shape != t.shape:  # what was checked is what was read (the file may have changed)
        raise SerializationError(f"load: {path}: {t} was read as shape {a.shape}, dtype {a.dtype}; the file changed")
    return a


def _st_header(path: str) -> tuple[dict, int]:
    """The JSON header of a safetensors file and where its data begin; its length is checked before it is read."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(_ST_LENGTH)
        _st_check_start(head, path)
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES:
            raise SerializationError(
                f"load: {path}: its first 8 bytes say the safetensors header is {length} bytes long, more than the "
                f"{format_bytes(MAX_HEADER_BYTES)} chainrule.io.MAX_HEADER_BYTES allows (a state_dict's is a few "
                "KiB); it is not a safetensors file, or, if it is trusted, raise the limit"
            )
        if _ST_LENGTH + length > size:
            raise SerializationError(
                f"load: {path} is not a complete safetensors file: its header is {length} bytes long, the file "
                f"holds {size - _ST_LENGTH} after the length (truncated)"
            )
        raw = f.read(length)
    try:
        text = raw.decode("utf-8")
        depth = _json_depth(text)
        if depth > MAX_HEADER_DEPTH:
            raise ValueError(f"it nests {depth} levels deep (a safetensors header nests 3)")
        header = json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise SerializationError(
            f"load: {path} is not a safetensors file: its header is not a JSON object ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(header, dict):
        raise SerializationError(
            f"load: {path} is not a safetensors file: its header is a JSON {type(header).__name__}, not an object"
        )
    return header, _ST_LENGTH + length


def _st_check_start(head: bytes, path: str) -> None:
    """Refuse, by its first bytes, what is certainly no safetensors file, saying what it is."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise SerializationError(
            f"load: {path} is a zip archive (an .npz file, as chainrule.save writes for names not ending in "
            ".safetensors), not a safetensors file; give it a name ending in .npz"
        )
    if head.startswith(b"\x93NUMPY"):
        raise SerializationError(f"load: {path} is a single NumPy array (.npy), not a safetensors file")
    if len(head) < _ST_LENGTH:
        what = "empty" if not head else f"truncated: {len(head)} bytes, fewer than the 8 of the header's length"
        raise SerializationError(f"load: {path} is not a complete safetensors file ({what})")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"it names {', '.join(map(repr, twice[:5]))} twice")
    return dict(pairs)


def _st_metadata(header: dict, path: str) -> dict[str, str]:
    meta = header.get(_ST_METADATA)
    if meta is None:
        return {}
    if not _is_text_pairs(meta):
        raise SerializationError(
            f"load: {path}: its header's {_ST_METADATA} is not a JSON object of strings, as safetensors requires; "
            "the file is corrupt"
        )
    return dict(meta)


def _st_tensors(header: dict, path: str, limit: int, start: int) -> list[_StTensor]:
    """Every tensor the header declares, checked: dtype, shape, byte range; together within ``limit``;
    their ranges tiling the data exactly (no gap, no overlap) up to the end of the file."""
    tensors, total = [], start
    for name, info in header.items():
        if name == _ST_METADATA:
            continue
        t = _st_tensor(name, info, path)
        total += t.end - t.begin
        if total > limit:
            raise SerializationError(
                f"load: {path}: its tensors up to {t} declare {format_bytes(total)} ({total} bytes) with the header, "
                f"more than the {format_bytes(limit)} load allows; if the file is trusted and the memory is there, "
                "pass a larger max_bytes= to chainrule.io.load or raise chainrule.io.MAX_LOAD_BYTES"
            )
        tensors.append(t)
    tensors.sort(key=lambda t: (t.begin, t.end))
    end = 0
    for t in tensors:
        if t.begin != end:
            raise SerializationError(
                f"load: {path}: {t} has its data at bytes {t.begin}..{t.end}, where byte {end} was next: the "
                f"tensors' data_offsets {'overlap' if t.begin < end else 'leave a gap'}; the file is corrupt"
            )
        end = t.end
    data = os.path.getsize(path) - start
    if end > data:
        raise SerializationError(
            f"load: {path} is not a complete safetensors file: its header declares {end} bytes of data, the file "
            f"holds {data} (truncated)"
        )
    if end < data:
        raise SerializationError(
            f"load: {path} holds {data - end} bytes after the {end} bytes of data its header declares; it is not "
            "a safetensors file as written (data appended, or a header that lies)"
        )
    return tensors


def _st_tensor(name: str, info, path: str) -> _StTensor:
    if not isinstance(info, dict) or not _ST_FIELDS <= set(info):
        raise SerializationError(
            f"load: {path}: the header's entry for {name!r} is not an object with {', '.join(sorted(_ST_FIELDS))}; "
            "the file is corrupt (or not a safetensors file)"
        )
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if code not in _ST_DTYPES:
        why = _ST_WHY.get(code, "8-bit floats, which NumPy has not" if str(code).startswith("F8") else "unknown")
        raise SerializationError(
            f"load: {path}: tensor {name!r} has dtype {code} ({why}); chainrule reads "
            f"{', '.join(_ST_DTYPES)}. Convert it where it was written (in PyTorch: "
            "{k: v.float() for k, v in state_dict.items()} before safetensors.torch.save_file)"
        )
    if not (isinstance(shape, list) and all(_is_count(n) for n in shape)):
        raise SerializationError(f"load: {path}: tensor {name!r} has the shape {shape!r}; the file is corrupt")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise SerializationError(f"load: {path}: tensor {name!r} has data_offsets {offsets!r}; the file is corrupt")
    t = _StTensor(name, np.dtype(_ST_DTYPES[code]), tuple(shape), *offsets)
    nbytes = _count(shape) * t.dtype.itemsize
    if t.end - t.begin != nbytes:
        raise SerializationError(
            f"load: {path}: {t} takes {nbytes} bytes, but its data_offsets [{t.begin}, {t.end}] span "
            f"{t.end - t.begin}; the file is corrupt"
        )
    return t


def _is_count(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0
