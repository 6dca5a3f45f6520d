"""Microcode folders: PEFT adapters, one per ISA, with manifests.

An adapter folder is a standard PEFT adapter (``adapter_config.json``,
``adapter_model.safetensors``) plus ``llmcpu_manifest.json`` (base model
and its weight fingerprint, ISA spec, corpus, tokens seen,
hyperparameters, losses, library versions), a model card
``README.md`` and the learning curve. A microcode folder, as passed to
``microcode=`` in ``--model_args``, holds adapter folders (or is one).
"""

import hashlib
import json
import logging
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmcpu_eval.spec import canonical

logger = logging.getLogger(__name__)

MANIFEST = "llmcpu_manifest.json"
WEIGHTS = "adapter_model.safetensors"
FORMAT = 1


@dataclass(frozen=True)
class Adapter:
    path: Path
    isa: str
    manifest: dict

    @property
    def fingerprint(self) -> str:
        return self.manifest["adapter_fingerprint"]


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"sha256:{digest[:16]}"


def _versions() -> dict:
    import accelerate
    import lm_eval
    import peft
    import torch
    import transformers

    from llmcpu_eval import __version__

    return {
        "llmcpu_eval": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
        "lm_eval": getattr(lm_eval, "__version__", "?"),
        "python": platform.python_version(),
    }


def write_adapter_files(out, config, base_path, corpus, curve, seconds, tps):
    """Manifest, model card and learning curve beside a saved adapter."""
    from llmcpu_eval.fingerprint import weights_fingerprint
    from llmcpu_eval.train import CURVE_FILE, plot_curve

    out = Path(out)
    weights = out / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} was not written by save_pretrained")
    heldout = curve["heldout"]
    manifest = {
        "format": FORMAT,
        "base_model": config.model or "SmolLM2-135M-Instruct",
        "base_fingerprint": weights_fingerprint(base_path),
        "isa": config.isa,
        "adapter_fingerprint": file_fingerprint(weights),
        "embeddings_trained": config.embeddings,
        "corpus": {
            "sources": corpus.sources,
            "documents": len(corpus.documents),
            "bytes": corpus.n_bytes,
            "sha256": corpus.sha256,
        },
        "tokens_seen": heldout[-1]["tokens"] if heldout else 0,
        "hyperparameters": config.hyperparameters(),
        "seed": config.seed,
        "final_train_loss": curve["train"][-1]["loss"] if curve["train"] else None,
        "heldout_bpb_bare": heldout[0]["heldout_bpb"] if heldout else None,
        "heldout_bpb_final": heldout[-1]["heldout_bpb"] if heldout else None,
        "train_seconds": round(seconds, 1),
        # Of which measuring held-out bits per byte:
        "heldout_seconds": round(sum(p.get("seconds", 0) for p in heldout), 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")
    title = f"{manifest['base_model']} under {config.isa}"
    (out / "learning_curve.png").write_bytes(plot_curve(curve, tps, title))
    (out / "README.md").write_text(model_card(manifest))
    return manifest


def model_card(m: dict) -> str:
    h = m["hyperparameters"]
    bare, final = m["heldout_bpb_bare"], m["heldout_bpb_final"]
    change = f"{bare:.4f} -> {final:.4f}" if bare and final else "not measured"
    return f"""---
base_model: {m["base_model"]}
library_name: peft
tags:
- llmcpu-eval
- microcode
- lora
---

# Microcode for `{m["isa"]}` on {m["base_model"]}

A LoRA adapter{" with trained embedding rows" if m["embeddings_trained"] else ""} made
by `llmcpu-eval train`. It teaches {m["base_model"]} to run text encoded in the ISA
`{m["isa"]}` (ids of its own vocabulary, segmented or numbered differently).

- Base weights: `{m["base_fingerprint"]}`; adapter: `{m["adapter_fingerprint"]}`
- Corpus: {", ".join(m["corpus"]["sources"])} ({m["corpus"]["bytes"]:,} bytes);
  {m["tokens_seen"]:,} tokens seen in {m["train_seconds"]:.0f} s
- LoRA r={h["lora_r"]}, alpha={h["lora_alpha"]}, dropout={h["lora_dropout"]},
  targets {h["target_modules"]}; lr {h["learning_rate"]} ({h["lr_scheduler"]}),
  batch {h["batch_size"]} x {h["seq_len"]} ids, seed {m["seed"]}
- Held-out bits per byte, bare -> with this adapter: {change}

Use it with lm-evaluation-harness:

```bash
lm_eval --model llmcpu --model_args pretrained={m["base_model"]},microcode=<folder> \\
        --tasks isa_hellaswag
```

`llmcpu_manifest.json` holds every setting and library version;
`learning_curve.json` / `.png` the training loss and held-out bits per byte.
"""


def _read_adapter(folder: Path) -> Adapter:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        isa = canonical(manifest["isa"])
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(
            f"{folder / MANIFEST} is not a valid llmcpu-eval manifest ({err})."
        ) from err
    if not (folder / WEIGHTS).is_file():
        raise ValueError(
            f"{folder} has a manifest but no {WEIGHTS}; microcode is loaded "
            "from safetensors only (never pickle)."
        )
    try:
        named = canonical(folder.name)
    except ValueError:
        named = None
    if named is not None and named != isa:
        raise ValueError(
            f"The adapter in {folder} was made for ISA {isa!r}, but its folder "
            f"is named for {named!r}; rename the folder or use the right adapter."
        )
    return Adapter(folder, isa, manifest)


def find_adapters(folder) -> dict[str, Adapter]:
    """ISA spec -> adapter, for a microcode folder (or one adapter)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"microcode={folder} is not a folder; give the folder that "
            "`llmcpu-eval train --output_path` wrote, or its parent."
        )
    candidates = [folder] if (folder / MANIFEST).is_file() else []
    candidates += sorted(p.parent for p in folder.glob(f"*/{MANIFEST}"))
    found: dict[str, Adapter] = {}
    for path in candidates:
        adapter = _read_adapter(path)
        if adapter.isa in found:
            raise ValueError(
                f"Two adapters for ISA {adapter.isa} in {folder}: "
                f"{found[adapter.isa].path} and {path}; keep one."
            )
        found[adapter.isa] = adapter
    if not found:
        raise ValueError(
            f"microcode={folder} holds no adapter (no {MANIFEST} in it or "
            "its subfolders)."
        )
    return found


def check_base(adapters: dict[str, Adapter], fingerprint: str | None, model: str):
    """Refuse adapters trained on other weights than the model in use."""
    wrong = [
        f"{a.path} (ISA {a.isa}) was trained on {a.manifest.get('base_model')} "
        f"with weights {a.manifest.get('base_fingerprint')}"
        for a in adapters.values()
        if fingerprint and a.manifest.get("base_fingerprint") not in (None, fingerprint)
    ]
    if wrong:
        raise ValueError(
            f"Microcode made for another base model: the model in use is {model} "
            f"with weights {fingerprint}, but " + "; ".join(wrong) + ". Train "
            "microcode for this model with llmcpu-eval train, or use its own base."
        )
