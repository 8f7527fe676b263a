"""The trained intent model is built once per content version and loaded from disk afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant_crm.services.pipeline import intents

ROOT = Path(__file__).resolve().parent.parent

SMALL = [
    {"intent_name": "greeting", "examples": "hello\nhi there\ngood morning\nmwapoleni\nmoni"},
    {"intent_name": "goodbye", "examples": "bye\nthank you, goodbye\nzikomo\nsee you later\nnatotela"},
    {
        "intent_name": "payment_inquiry",
        "requires_auth": 1,
        "needs_live_data": 1,
        "examples": "where is my money\nwhen is my pension paid\nmy payment is late\nndalama zanga zili kuti",
    },
]
PROBES = ["hello there", "where is my pension money", "zikomo kwambiri", "asdf qwerty"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "models"
    monkeypatch.setenv(intents.MODEL_CACHE_ENV, str(d))
    return d


def probabilities(model) -> list[np.ndarray]:
    return [intents._probabilities(model, intents.normalise_text(t)) for t in PROBES]


def test_first_build_trains_and_saves_then_the_next_loads_the_same_model(cache_dir):
    first = intents.build(SMALL)
    assert first.origin == "trained"
    files = list(cache_dir.glob("intents-*.npz"))
    assert [f.name for f in files] == [f"intents-{first.fingerprint}.npz"]

    second = intents.build(SMALL)
    assert second.origin == "disk"
    assert second.classes == first.classes and second.fingerprint == first.fingerprint
    assert second.configs == first.configs and second.configs["payment_inquiry"].requires_auth
    assert second.vocabulary == first.vocabulary and second.n_examples == first.n_examples
    assert second.word_index == first.word_index and second.char_index == first.char_index
    for a, b in zip(probabilities(first), probabilities(second), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_a_changed_example_flag_or_code_version_gives_a_new_fingerprint(monkeypatch):
    base = intents.fingerprint(SMALL)
    edited = [dict(SMALL[0], examples=SMALL[0]["examples"] + "\nhowzit"), *SMALL[1:]]
    flagged = [*SMALL[:2], dict(SMALL[2], requires_auth=0)]
    assert intents.fingerprint(edited) != base
    assert intents.fingerprint(flagged) != base
    assert intents.fingerprint(SMALL, source="store") != base
    assert intents.fingerprint(list(reversed(SMALL))) == base  # row order is not content
    monkeypatch.setattr(intents, "_code_version_cache", "another release")
    assert intents.fingerprint(SMALL) != base


def test_a_damaged_cache_file_is_retrained_and_replaced(cache_dir):
    model = intents.build(SMALL)
    path = cache_dir / f"intents-{model.fingerprint}.npz"
    path.write_bytes(b"not a model at all")
    again = intents.build(SMALL)
    assert again.origin == "trained"
    assert intents.build(SMALL).origin == "disk"


def test_a_file_with_another_fingerprint_under_this_name_is_not_used(cache_dir):
    other = intents.build(SMALL[:2])
    wanted = intents.fingerprint(SMALL)
    (cache_dir / f"intents-{other.fingerprint}.npz").rename(cache_dir / f"intents-{wanted}.npz")
    model = intents.build(SMALL)
    assert model.origin == "trained" and "payment_inquiry" in model.classes


def test_an_unusable_cache_directory_only_costs_a_training(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv(intents.MODEL_CACHE_ENV, str(blocker / "models"))
    model = intents.build(SMALL)
    assert model.origin == "trained"
    assert intents._probabilities(model, "hello").shape == (3,)


def test_old_content_versions_are_pruned(cache_dir, monkeypatch):
    monkeypatch.setattr(intents, "MODEL_CACHE_KEEP", 2)
    for i in range(4):
        rows = [dict(SMALL[0], examples=SMALL[0]["examples"] + f"\nhello {i}"), *SMALL[1:]]
        newest = intents.build(rows)
    files = sorted(f.name for f in cache_dir.glob("intents-*.npz"))
    assert len(files) == 2 and f"intents-{newest.fingerprint}.npz" in files


def test_a_new_process_loads_the_fixtures_model_without_importing_scikit_learn(cache_dir):
    definitions, source = intents.load_definitions()  # no runtime here: the fixtures
    assert source == "fixtures"
    built = intents.build(definitions, source)
    script = (
        "import json, sys\n"
        "from assistant_crm.services.pipeline import intents\n"
        "intents.warm_up()\n"
        "r = intents.classify('where is my pension money')\n"
        "print(json.dumps({'origin': intents._get_model().origin, 'fp': intents._get_model().fingerprint,"
        " 'sklearn': any(m.startswith('sklearn') for m in sys.modules), 'intent': r.intent}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env[intents.MODEL_CACHE_ENV] = str(cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"origin": "disk", "fp": built.fingerprint, "sklearn": False, "intent": "payment_inquiry"}
