"""Training text for microcode: files, folders, hub datasets or the bundled corpus.

A corpus is a list of documents (paragraphs). ``--corpus bundled`` is
WikiText-2 validation text shipped in the package, distinct from every
evaluation split (see ``llmcpu_eval/data/SOURCES.md``).

>>> load_corpus(["bundled"]).documents[0][:24]      # doctest: +SKIP
'= Homarus gammarus ='
"""

import gzip
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_FILE = Path(__file__).parent / "data/corpus/wikitext-2-v1-valid.txt.gz"
TEXT_SUFFIXES = (".txt", ".md", ".txt.gz", ".jsonl", ".jsonl.gz")


@dataclass
class Corpus:
    sources: list[str]
    documents: list[str]

    @property
    def n_bytes(self) -> int:
        return sum(len(d.encode("utf-8")) for d in self.documents)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(doc.encode("utf-8") + b"\0")
        return digest.hexdigest()

    def split(self, heldout: float = 0.05, max_heldout: int = 64):
        """(train, held-out) documents: held-out is the end of the corpus."""
        n = min(max_heldout, max(1, int(len(self.documents) * heldout)))
        if len(self.documents) < 2:
            raise ValueError(
                f"corpus {self.sources} has {len(self.documents)} document(s); "
                "training needs at least 2 (one is held out for bits per byte)."
            )
        return self.documents[:-n], self.documents[-n:]


def _read_file(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        if ".jsonl" in path.suffixes:
            rows = (json.loads(line) for line in fh if line.strip())
            return [r["text"].strip() for r in rows if r.get("text", "").strip()]
        text = fh.read()
    # One document per non-empty line (WikiText: a paragraph or heading).
    lines = text.replace("\r\n", "\n").split("\n")
    return [line.strip() for line in lines if line.strip()]


def _read_hub(name: str) -> list[str]:
    import datasets

    repo, _, split = name.partition("@")
    repo, _, config = repo.partition(":")
    try:
        data = datasets.load_dataset(repo, config or None, split=split or "train")
    except Exception as err:
        raise ValueError(
            f"--corpus {name!r} is not a file or folder here, and loading it as "
            f"a hub dataset failed ({type(err).__name__}: {err}). Pass text "
            "files, a folder of .txt files, 'bundled', or a hub dataset as "
            "name[:config][@split] with a 'text' column."
        ) from err
    if "text" not in data.column_names:
        raise ValueError(
            f"hub dataset {name!r} has no 'text' column (columns: "
            f"{', '.join(data.column_names)})."
        )
    return [t.strip() for t in data["text"] if t and t.strip()]


def load_corpus(sources) -> Corpus:
    """Read every source in order into one corpus."""
    documents = []
    for source in sources:
        path = Path(source).expanduser()
        if source == BUNDLED:
            documents += _read_file(BUNDLED_FILE)
        elif path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.endswith(TEXT_SUFFIXES)
            )
            if not files:
                raise ValueError(
                    f"--corpus folder {path} holds no text files "
                    f"({', '.join(TEXT_SUFFIXES)})."
                )
            for file in files:
                documents += _read_file(file)
        elif path.is_file():
            documents += _read_file(path)
        else:
            documents += _read_hub(source)
    if not documents:
        raise ValueError(f"--corpus {' '.join(sources)} holds no text.")
    return Corpus(list(sources), documents)
