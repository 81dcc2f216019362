"""Loaded generators: the one loader (safetensors only) and a small thread-safe LRU of them.

torch is imported here on first use, not when the app starts, so the app answers its first page
request a few seconds after start; `torch_module()` is that import (and applies $REKOGAN_THREADS).
"""
from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..hangul import ClassList
from .inputs import StudioError
from .registry import EpochInfo

_THREADS_LOCK = threading.Lock()
_THREADS_SET = False


def torch_module():
    """Import torch once; the first caller also applies $REKOGAN_THREADS (intra-op threads)."""
    global _THREADS_SET
    import torch
    if not _THREADS_SET:
        with _THREADS_LOCK:
            if not _THREADS_SET:
                n = os.environ.get("REKOGAN_THREADS")
                if n and n.isdigit() and int(n) > 0:
                    torch.set_num_threads(int(n))
                _THREADS_SET = True
    return torch


def inference_mode(fn):
    """@torch.inference_mode(), with torch imported at call time (see the module docstring)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch_module().inference_mode():
            return fn(*args, **kwargs)
    return wrapper


@dataclass
class Loaded:
    generator: object            # torch.nn.Module in eval mode
    meta: dict                   # read_metadata(...) + model_config, class_list
    classes: ClassList
    info: EpochInfo


def load(info: EpochInfo) -> Loaded:
    """Load one generator checkpoint (safetensors only) or raise StudioError saying what is wrong."""
    torch_module()
    from ..checkpoints import CheckpointError, load_generator
    name = f"{info.run}/{info.path.name}"
    try:
        g, meta = load_generator(info.path)
    except CheckpointError as e:
        msg = str(e).replace(str(info.path), name)
        raise StudioError(f"Cannot use checkpoint {name}: {msg}") from None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AssertionError) as e:
        raise StudioError(f"Cannot use checkpoint {name}: {type(e).__name__}: {e}") from None
    finally:
        # a load's transient copies (file bytes, fp32 and channels_last copies: a few times the
        # model, in blocks under memory.py's mmap threshold) go back to the system now, not at the
        # trimmer's next turn (~1 ms; a no-op off glibc)
        from .memory import trim
        trim()
    return Loaded(generator=g, meta=meta, classes=meta["class_list"], info=info)


def mtime(path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def nbytes(module) -> int:
    """Bytes of a module's parameters and buffers (what keeping it loaded costs)."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


class GeneratorCache:
    """LRU of loaded generators keyed by file (path, mtime, size), so a replaced file is reloaded.
    Bounded twice: at most `size` generators and at most `max_bytes` of their tensors (the newest
    one is always kept, so a single large model still works). Hits only take a short lock; loads run
    one at a time (they are rare, and this bounds memory)."""

    def __init__(self, size: int = 6, *, max_bytes: int | None = None):
        assert size >= 1, f"a cache holds at least one generator, got size {size}"
        assert max_bytes is None or max_bytes > 0, f"max_bytes must be positive, got {max_bytes}"
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Loaded] = OrderedDict()
        self._bytes: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.loads = 0

    @staticmethod
    def _key(info: EpochInfo) -> tuple:
        try:
            st = info.path.stat()
        except OSError:
            raise StudioError(f"Checkpoint {info.run}/{info.path.name} is missing (was it deleted?).") from None
        return (str(info.path.resolve()), st.st_mtime_ns, st.st_size)

    def get(self, info: EpochInfo) -> Loaded:
        key = self._key(info)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        with self._load_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            loaded = load(info)
            size = nbytes(loaded.generator)
            with self._lock:
                self._items[key] = loaded
                self._bytes[key] = size
                while len(self._items) > 1 and (len(self._items) > self.size or
                                                (self.max_bytes is not None and self.nbytes > self.max_bytes)):
                    old, _ = self._items.popitem(last=False)
                    self._bytes.pop(old, None)
                self.loads += 1
            return loaded

    @property
    def nbytes(self) -> int:
        """Bytes of tensors held by the cached generators."""
        return sum(self._bytes.get(k, 0) for k in self._items)

    def peek(self, info: EpochInfo) -> Loaded | None:
        """The cached generator of `info`, without loading or reordering."""
        key = self._key(info)
        with self._lock:
            return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self):
        with self._lock:
            self._items.clear()
            self._bytes.clear()
