"""Microcode on a model organism: training, resuming, loading, refusing.

The organism is a tiny Llama pretrained natively here, in about half a
minute, on the bundled WikiText-2 validation text. Under the permuted
ISA it is at chance or worse; microcode must bring it back.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_model
from lm_eval.api.instance import Instance
from safetensors.torch import load_file

from llmcpu_eval.corpus import load_corpus
from llmcpu_eval.isa import build_isa
from llmcpu_eval.microcode import MANIFEST, WEIGHTS
from llmcpu_eval.task import TASK_ISAS
from llmcpu_eval.train import (
    HeldOut,
    TrainConfig,
    load_base,
    pack,
    peft_config,
    train,
)

SMALL = dict(seq_len=64, batch_size=16, learning_rate=3e-3, heldout_bytes=3000)


@pytest.fixture(scope="module")
def organism(tmp_path_factory, bpe_tokenizer):
    """A tiny Llama that has learnt the native ISA (300 steps)."""
    from transformers import AutoModelForCausalLM

    folder = build_tiny_model(tmp_path_factory.mktemp("organism"), bpe_tokenizer)
    model = AutoModelForCausalLM.from_pretrained(folder)
    documents, _ = load_corpus(["bundled"]).split()
    native = build_isa("native", bpe_tokenizer)
    blocks = pack(native, documents[:1500], 64, bpe_tokenizer.eos_token_id)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        batch = blocks[torch.randint(0, len(blocks), (16,))]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)
    return folder


def heldout_bpb(folder, spec, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    _, documents = load_corpus(["bundled"]).split()
    isa = build_isa(spec, tokenizer)
    held = HeldOut(isa, documents, 64, tokenizer.bos_token_id, 3000)
    return held.bits_per_byte(model, 16), held


@pytest.fixture(scope="module")
def microcode(organism, tmp_path_factory):
    """Microcode for permuted and chars, 150 steps each."""
    root = tmp_path_factory.mktemp("microcode")
    for spec in ("permuted", "chars"):
        config = TrainConfig(
            isa=spec,
            model=str(organism),
            output_path=str(root / spec),
            max_tokens=150 * 16 * 64,
            eval_every=50,
            save_every=1000,
            **SMALL,
        )
        train(config)
    return root


def test_microcode_recovers_what_the_bare_permuted_run_loses(
    organism, microcode, bpe_tokenizer
):
    native, held = heldout_bpb(organism, "native", bpe_tokenizer)
    manifest = json.loads((microcode / "permuted" / MANIFEST).read_text())
    bare, final = manifest["heldout_bpb_bare"], manifest["heldout_bpb_final"]

    # Same ids per byte as native: chance is log2(V) bits per id.
    ids_per_byte = sum(len(w) - 1 for w in held.windows) / held.n_bytes
    chance = math.log2(len(bpe_tokenizer)) * ids_per_byte
    assert native < chance - 0.5
    assert bare > 0.95 * chance, (bare, chance)
    assert final < bare - 2.0, (bare, final)
    assert final < native + 0.8, (native, final)


def test_lora_alone_recovers_most_of_chars(microcode):
    manifest = json.loads((microcode / "chars" / MANIFEST).read_text())
    assert not manifest["embeddings_trained"]
    assert manifest["heldout_bpb_final"] < manifest["heldout_bpb_bare"] - 3.0


def test_adapter_folder_is_what_peft_users_expect(organism, microcode):
    from llmcpu_eval.fingerprint import weights_fingerprint

    folder = microcode / "permuted"
    names = {p.name for p in folder.iterdir()}
    assert {
        "adapter_config.json",
        WEIGHTS,
        MANIFEST,
        "README.md",
        "learning_curve.json",
        "learning_curve.png",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)
    assert "checkpoints" not in names

    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["isa"] == "permuted:seed=0"
    assert manifest["base_fingerprint"] == weights_fingerprint(organism)
    assert manifest["tokens_seen"] == 150 * 16 * 64
    assert manifest["corpus"]["sources"] == ["bundled"]
    assert manifest["hyperparameters"]["lora_r"] == 16
    assert set(manifest["versions"]) >= {"torch", "transformers", "peft"}
    config = json.loads((folder / "adapter_config.json").read_text())
    assert "embed_tokens" in config["modules_to_save"]
    chars = json.loads((microcode / "chars" / "adapter_config.json").read_text())
    assert not chars["modules_to_save"]

    curve = json.loads((folder / "learning_curve.json").read_text())
    assert [p["step"] for p in curve["heldout"]] == [0, 50, 100, 150]
    assert curve["train"] and curve["train"][-1]["step"] == 150
    assert (folder / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nbase_model:") and "library_name: peft" in card


def _cli_train(organism, out, *extra):
    args = [
        sys.executable, "-m", "llmcpu_eval.cli", "train",
        "--model", str(organism), "--isa", "chars", "--output_path", str(out),
        "--max_tokens", str(120 * 8 * 64), "--batch_size", "8", "--seq_len", "64",
        "--save_every", "10", "--eval_every", "40", "--heldout_bytes", "2000",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def test_resume_after_kill_ends_with_the_uninterrupted_adapter(organism, tmp_path):
    whole = _cli_train(organism, tmp_path / "whole")
    cut = _cli_train(organism, tmp_path / "cut")
    checkpoints = tmp_path / "cut" / "checkpoints"
    deadline = time.monotonic() + 600
    while not (checkpoints / "checkpoint-30" / "trainer_state.json").exists():
        assert cut.poll() is None, cut.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert cut.returncode == -signal.SIGKILL
    assert not (tmp_path / "cut" / MANIFEST).exists()

    again = _cli_train(organism, tmp_path / "cut", "--resume")
    log, _ = again.communicate(timeout=600)
    assert again.returncode == 0, log
    assert whole.wait(timeout=600) == 0, whole.stdout.read()

    a = load_file(tmp_path / "whole" / WEIGHTS)
    b = load_file(tmp_path / "cut" / WEIGHTS)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    curve = json.loads((tmp_path / "cut" / "learning_curve.json").read_text())
    assert [p["step"] for p in curve["heldout"]] == [0, 40, 80, 120]


def test_an_existing_output_folder_is_never_overwritten(organism, tmp_path):
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    config = TrainConfig(isa="chars", model=str(organism), output_path=str(out))

    with pytest.raises(FileExistsError, match="--overwrite"):
        train(config)
    proc = subprocess.run(
        [sys.executable, "-m", "llmcpu_eval.cli", "train", "--isa", "chars",
         "--model", str(organism), "--output_path", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "pass --overwrite" in proc.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_bad_settings_are_named_all_at_once():
    with pytest.raises(ValueError) as err:
        TrainConfig(
            isa="rot13", output_path="x", lora_r=0, lr_scheduler="warm", seq_len=0
        )
    message = str(err.value)
    for part in ("Unknown ISA 'rot13'", "--lora_r=0", "--lr_scheduler='warm'",
                 "--seq_len=0", "cosine"):  # fmt: skip
        assert part in message


def _request(task, context, continuation):
    return Instance(
        "loglikelihood",
        doc={},
        arguments=(context, continuation),
        idx=0,
        metadata=(task, 0, 1),
    )


def test_each_isa_runs_with_its_own_adapter_and_others_bare(organism, microcode):
    from llmcpu_eval.model import LLMCPU

    TASK_ISAS.update(mc_permuted="permuted:seed=0", mc_bytes="bytes", mc_chars="chars")
    pair = ("The lobster is a species of", " crustacean found in the sea")
    tasks = ["mc_native", "mc_permuted", "mc_bytes", "mc_chars"]

    bare = LLMCPU(pretrained=str(organism), batch_size=2)
    with_mc = LLMCPU(pretrained=str(organism), microcode=str(microcode), batch_size=2)
    requests = [_request(t, *pair) for t in tasks]
    plain = [ll for ll, _ in bare.loglikelihood(requests)]
    coded = [ll for ll, _ in with_mc.loglikelihood(requests)]

    # Native and bytes have no adapter: bit for bit the bare model.
    assert coded[0] == plain[0] and coded[2] == plain[2]
    # Permuted runs with its microcode, which makes the text likelier.
    assert coded[1] > plain[1] + 5.0
    # Chars gets its own adapter only: not the embedding rows of permuted.
    alone = LLMCPU(pretrained=str(organism), microcode=str(microcode / "chars"))
    ((chars_alone, _),) = alone.loglikelihood([requests[3]])
    assert coded[3] == pytest.approx(chars_alone, abs=1e-4)
    assert coded[3] > plain[3] + 5.0


def test_microcode_for_another_base_or_isa_is_refused(
    organism, microcode, tmp_path, bpe_tokenizer
):
    from llmcpu_eval.model import LLMCPU

    other = build_tiny_model(tmp_path / "other", bpe_tokenizer, seed=1)
    with pytest.raises(ValueError, match="another base model.*permuted:seed=0"):
        LLMCPU(pretrained=str(other), microcode=str(microcode))

    wrong = tmp_path / "wrong"
    shutil.copytree(microcode / "chars", wrong / "bytes")
    with pytest.raises(ValueError, match="made for ISA 'chars'.*named for 'bytes'"):
        LLMCPU(pretrained=str(organism), microcode=str(wrong))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        LLMCPU(pretrained=str(organism), microcode=str(tmp_path / "nothing"))


def test_results_json_records_the_microcode_of_every_task(
    organism, microcode, tmp_path
):
    out = tmp_path / "out"
    proc = subprocess.run(
        ["lm_eval", "--model", "llmcpu",
         "--model_args", f"pretrained={organism},microcode={microcode}",
         "--tasks", "isa_native_piqa,isa_permuted_piqa,isa_bytes_piqa",
         "--limit", "2", "--output_path", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.rglob("results_*.json")
    results = json.loads(path.read_text())
    meta = {t: c["metadata"] for t, c in results["configs"].items()}
    manifest = json.loads((microcode / "permuted" / MANIFEST).read_text())
    assert meta["isa_permuted_piqa"]["llmcpu_microcode"] == str(microcode / "permuted")
    assert (
        meta["isa_permuted_piqa"]["llmcpu_microcode_fingerprint"]
        == manifest["adapter_fingerprint"]
    )
    assert meta["isa_bytes_piqa"]["llmcpu_microcode"] == "bare"
    assert meta["isa_native_piqa"]["llmcpu_microcode"] == "bare"
    rows = {r["isa"]: r for r in results["llmcpu_portability"]}
    assert rows["permuted:seed=0"]["microcode"] == str(microcode / "permuted")
    assert Path(rows["permuted:seed=0"]["microcode"]).is_dir()


def test_qlora_gradients_survive_a_heldout_measurement(organism, bpe_tokenizer):
    # bitsandbytes repacks 4-bit weights for a kernel without a backward
    # after an eval-mode forward on AVX512-BF16 CPUs; held-out measurements
    # during training must not zero the gradients through frozen layers.
    from peft import get_peft_model

    config = TrainConfig(
        isa="chars", model=str(organism), output_path="unused", load_in_4bit=True
    )
    model, _, _ = load_base(config)
    model = get_peft_model(model, peft_config(config, model))
    ids = torch.randint(
        0, bpe_tokenizer.vocab_size, (2, 32), generator=torch.Generator().manual_seed(0)
    )

    def gradients():
        model.train()
        model.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        return {
            name: p.grad.clone()
            for name, p in model.named_parameters()
            if p.requires_grad and "lora_B" in name
        }

    before = gradients()
    _, documents = load_corpus(["bundled"]).split()
    held = HeldOut(build_isa("chars", bpe_tokenizer), documents, 64, 0, 500)
    held.bits_per_byte(model, 4)
    after = gradients()
    first = next(name for name in before if "layers.0." in name)
    assert before[first].abs().max() > 0
    for name in before:
        torch.testing.assert_close(after[name], before[name], msg=name)


def test_qlora_trains_on_a_4bit_base_and_runs_there(organism, tmp_path):
    from llmcpu_eval.model import LLMCPU

    out = tmp_path / "qlora" / "chars"
    config = TrainConfig(
        isa="chars",
        model=str(organism),
        output_path=str(out),
        max_tokens=10 * 8 * 64,
        batch_size=8,
        seq_len=64,
        eval_every=10,
        heldout_bytes=1000,
        load_in_4bit=True,
    )
    train(config)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["hyperparameters"]["load_in_4bit"] is True
    assert manifest["heldout_bpb_final"] < manifest["heldout_bpb_bare"]

    TASK_ISAS["mc_qlora_chars"] = "chars"
    lm = LLMCPU(pretrained=str(organism), microcode=str(out.parent), load_in_4bit=True)
    ((ll, _),) = lm.loglikelihood([_request("mc_qlora_chars", "The sea", " is")])
    assert math.isfinite(ll)
