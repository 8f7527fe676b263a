"""Compare intent-classifier candidates on unseen text (evaluation only, never used at run time).

Run from the repository root::

    .venv/bin/python benchmarks/compare_intents.py [--folds 5] [--dev-set PATH]

For every candidate it prints: accuracy and out-of-scope recall by stratified
k-fold cross-validation over the shipped Intent Definition examples (each fold
trains on the rest: the examples of the fold are unseen), the same on the dev
set (trained on all examples; the dev set has been tuned on, so it is only a
sanity check), the macro F1 over the folds, and fit time.
Also ``--old-examples FILE``: a fixtures file whose examples train, with the
examples added since (in the current fixtures) as the unseen test set.

``--by-batch`` groups the examples by the commit that added them (each batch
was written in one sitting, often by another writer; uncommitted examples are
the last batch) and adds two measures closer to a fresh probe than k-fold:
``group`` (leave one batch out: the rest train, every batch after the first is
scored once) and ``chrono`` (each batch scored by a model trained only on the
batches before it). ``--rounds`` also trains on all examples and scores the
spent probe rounds in ``benchmarks/probes/round*/intents.jsonl`` (regression
checks: they were read for the kinds of miss, so they are not unseen).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.services.pipeline import intents  # noqa: E402

OOS = "out_of_scope"


def examples(path: Path | None = None) -> tuple[list[str], list[str]]:
    docs = intents.load_fixture_definitions(path or intents.FIXTURES_PATH)
    texts, labels = [], []
    for d in docs:
        for line in (d.get("examples") or "").splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(d["intent_name"])
    return texts, labels


def batches(path: Path | None = None) -> list[tuple[str, str, int]]:
    """(text, intent, batch) for the current examples; batch = index of the commit that added it."""
    fixtures = path or intents.FIXTURES_PATH
    rel = fixtures.resolve().relative_to(ROOT)
    commits = subprocess.run(
        ["git", "log", "--reverse", "--format=%H", "--", str(rel)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    first: dict[tuple[str, str], int] = {}
    for i, commit in enumerate(commits):
        blob = subprocess.run(
            ["git", "show", f"{commit}:{rel}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for doc in json.loads(blob):
            for line in (doc.get("examples") or "").splitlines():
                first.setdefault((line.strip(), doc["intent_name"]), i)
    texts, labels = examples(fixtures)
    return [(t, y, first.get((t, y), len(commits))) for t, y in zip(texts, labels, strict=True)]


def evaluate_batches(cand: Candidate, rows: list[tuple[str, str, int]], old_batches: int = 0) -> dict:
    """Leave-one-batch-out and chronological scores (see the module docstring).

    ``old_batches`` > 0 adds ``group_old``: the leave-one-batch-out score on
    batches 1..old_batches only, a test set that stays the same when batches
    are added later (so example sets can be compared on it).
    """
    t = np.asarray([r[0] for r in rows], dtype=object)
    y = np.asarray([r[1] for r in rows])
    g = np.asarray([r[2] for r in rows])
    out = {}
    for name, train_of in (("group", lambda b: g != b), ("chrono", lambda b: g < b)):
        gold, pred, old_gold, old_pred = [], [], [], []
        for b in sorted(set(g.tolist()) - {int(g.min())}):
            cand.fit(list(t[train_of(b)]), list(y[train_of(b)]))
            p = cand.predict(list(t[g == b]))
            gold += list(y[g == b])
            pred += p
            if b <= old_batches:
                old_gold += list(y[g == b])
                old_pred += p
        out[name] = score(gold, pred)
        if name == "group" and old_gold:
            out["group_old"] = score(old_gold, old_pred)
    return out


def evaluate_rounds(cand: Candidate, texts: list[str], labels: list[str]) -> dict:
    """Trained on every example; accuracy on each spent probe round and on all of them."""
    cand.fit(texts, labels)
    out, gold, pred = {}, [], []
    for path in sorted((ROOT / "benchmarks" / "probes").glob("round*/intents.jsonl")):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        p = cand.predict([r["text"] for r in rows])
        g = [r["intent"] for r in rows]
        out[path.parent.name] = score(g, p)["accuracy"]
        gold += g
        pred += p
    out["all"] = score(gold, pred)
    return out


class Features:
    """Word 1–2-grams + char_wb 2–5-grams seen twice (shipped until 2026-11-30; the
    shipped set since keeps every character n-gram: ``shipped_features``), or a variant."""

    def __init__(self, char=(2, 5), words=(1, 2), char_min_df=2) -> None:
        self.char, self.words, self.char_min_df = char, words, char_min_df

    def fit_transform(self, norm: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        common = {"sublinear_tf": True, "lowercase": False}
        self.w = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=self.words, **common)
        self.c = TfidfVectorizer(analyzer="char_wb", ngram_range=self.char, min_df=self.char_min_df, **common)
        return sparse.hstack([self.w.fit_transform(norm), self.c.fit_transform(norm)]).tocsr()

    def transform(self, norm: list[str]):
        return sparse.hstack([self.w.transform(norm), self.c.transform(norm)]).tocsr()


class Candidate:
    """A model to compare; ``flags`` switches module settings (the marks) for its runs only."""

    def __init__(self, name: str, make, features=None, flags: dict | None = None) -> None:
        self.name, self.make, self.features = name, make, features or (lambda: Features())
        self.flags = flags or {}

    def _norm(self, texts: list[str]) -> list[str]:
        # A flag this checkout's module does not have is left alone (older checkouts).
        saved = {k: getattr(intents, k) for k in self.flags if hasattr(intents, k)}
        try:
            for k in saved:
                setattr(intents, k, self.flags[k])
            return [intents.normalise_text(t) for t in texts]
        finally:
            for k, v in saved.items():
                setattr(intents, k, v)

    def fit(self, texts: list[str], labels: list[str]):
        norm = self._norm(texts)
        self.f = self.features()
        x = self.f.fit_transform(norm)
        self.clf = self.make()
        self.clf.fit(x, labels)
        return self

    def predict(self, texts: list[str]) -> list[str]:
        return list(self.clf.predict(self.f.transform(self._norm(texts))))


class Ensemble:
    """Average of calibrated probabilities of a logistic regression and a linear SVM."""

    def __init__(self, c_lr=20.0, c_svm=0.5) -> None:
        self.c_lr, self.c_svm = c_lr, c_svm

    def fit(self, x, y):
        self.lr = LogisticRegression(C=self.c_lr, solver="newton-cg", max_iter=200, tol=1e-3).fit(x, y)
        self.svm = CalibratedClassifierCV(LinearSVC(C=self.c_svm), cv=3, method="sigmoid").fit(x, y)
        self.classes_ = self.lr.classes_
        return self

    def predict(self, x):
        p = self.lr.predict_proba(x) + self.svm.predict_proba(x)
        return self.classes_[np.argmax(p, axis=1)]


class OOSGate:
    """A 12-way model plus a binary in-scope/out-of-scope detector that can veto to out_of_scope."""

    def __init__(self, base, threshold=0.5) -> None:
        self.base, self.threshold = base, threshold

    def fit(self, x, y):
        y = np.asarray(y)
        self.base.fit(x, y)
        self.gate = LogisticRegression(C=10.0, class_weight="balanced", max_iter=500).fit(x, y == OOS)
        return self

    def predict(self, x):
        pred = np.asarray(self.base.predict(x), dtype=object)
        p_oos = self.gate.predict_proba(x)[:, 1]
        pred[p_oos >= self.threshold] = OOS
        return pred


class OOSBias:
    """A linear model with a constant added to the out-of-scope score (a moved decision boundary)."""

    def __init__(self, bias: float, c: float = 20.0, svm: bool = False, balanced: bool = False) -> None:
        self.bias, self.c, self.svm = bias, c, svm
        self.class_weight = "balanced" if balanced else None

    def fit(self, x, y):
        self.lr = (
            LinearSVC(C=self.c, class_weight=self.class_weight).fit(x, y)
            if self.svm
            else LogisticRegression(C=self.c, solver="newton-cg", max_iter=200, tol=1e-3).fit(x, y)
        )
        self.classes_ = self.lr.classes_
        self.col = list(self.classes_).index(OOS)
        return self

    def predict(self, x):
        scores = self.lr.decision_function(x)
        scores[:, self.col] += self.bias
        return self.classes_[np.argmax(scores, axis=1)]


def shipped_features() -> Features:
    return Features(char_min_df=1)


def candidates() -> list[Candidate]:
    lr = lambda c: lambda: LogisticRegression(C=c, solver="newton-cg", max_iter=200, tol=1e-3)  # noqa: E731
    return [
        Candidate("LR C=20 word1-2+char2-5 (shipped before)", lr(20.0)),
        Candidate("LR C=50 word1-2+char2-5", lr(50.0)),
        Candidate(
            "LR C=20 saga word1-2+char2-5",
            lambda: LogisticRegression(C=20.0, solver="saga", max_iter=300, tol=1e-3),
        ),
        Candidate("LR C=10 word1-2+char2-5", lr(10.0)),
        Candidate("LR C=20 word1-2+char1-4", lr(20.0), lambda: Features(char=(1, 4))),
        Candidate("LR C=20 word1-3+char2-6", lr(20.0), lambda: Features(char=(2, 6), words=(1, 3))),
        Candidate("LR C=20 word1-2+char2-5 min_df=1", lr(20.0), lambda: Features(char_min_df=1)),
        Candidate("LinearSVC C=0.5", lambda: LinearSVC(C=0.5)),
        Candidate("LinearSVC C=1", lambda: LinearSVC(C=1.0)),
        Candidate(
            "SGD modified_huber",
            lambda: SGDClassifier(loss="modified_huber", alpha=1e-4, max_iter=50, random_state=0),
        ),
        Candidate("ComplementNB a=0.3", lambda: ComplementNB(alpha=0.3)),
        Candidate("calibrated LR+SVC ensemble", lambda: Ensemble()),
        Candidate("LR C=20 + OOS bias 0.5", lambda: OOSBias(0.5)),
        Candidate("LR C=20 + OOS bias 1.0", lambda: OOSBias(1.0)),
        Candidate("LR C=20 + OOS bias 2.0", lambda: OOSBias(2.0)),
        Candidate("LinearSVC C=1 + OOS bias 0.1", lambda: OOSBias(0.1, c=1.0, svm=True)),
        Candidate("LinearSVC C=1 + OOS bias 0.2", lambda: OOSBias(0.2, c=1.0, svm=True), shipped_features),
        Candidate("LinearSVC C=1 + OOS bias 0.3", lambda: OOSBias(0.3, c=1.0, svm=True)),
        Candidate(
            "LinearSVC C=1 + OOS bias 0.2, no complaint mark",
            lambda: OOSBias(0.2, c=1.0, svm=True),
            shipped_features,
            flags={"COMPLAINT_MARK_ENABLED": False},
        ),
        Candidate(
            "LinearSVC C=1 + OOS bias 0.2, char min_df 2 (shipped until 2026-11-30)",
            lambda: OOSBias(0.2, c=1.0, svm=True),
            lambda: Features(char_min_df=2),
        ),
        Candidate(
            "LinearSVC C=1 balanced + OOS bias 0.2",
            lambda: OOSBias(0.2, c=1.0, svm=True, balanced=True),
            shipped_features,
        ),
        Candidate("LR C=20 + OOS gate", lambda: OOSGate(LogisticRegression(C=20.0, max_iter=300))),
    ]


def score(gold: list[str], pred: list[str]) -> dict:
    gold_a, pred_a = np.asarray(gold), np.asarray(pred)
    oos = gold_a == OOS
    return {
        "accuracy": round(float(np.mean(gold_a == pred_a)), 4),
        "oos_recall": round(float(np.mean(pred_a[oos] == OOS)), 4) if oos.any() else None,
        "macro_f1": round(float(f1_score(gold_a, pred_a, average="macro")), 4),
    }


def evaluate(cand: Candidate, texts, labels, folds: int, dev: list[dict], extra=None) -> dict:
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    gold, pred, fit_s = [], [], []
    t = np.asarray(texts, dtype=object)
    y = np.asarray(labels)
    for tr, te in skf.split(t, y):
        t0 = time.process_time()
        cand.fit(list(t[tr]), list(y[tr]))
        fit_s.append(time.process_time() - t0)
        gold += list(y[te])
        pred += cand.predict(list(t[te]))
    out = {"cv": score(gold, pred), "fit_cpu_s": round(float(np.mean(fit_s)), 3)}
    if dev:
        cand.fit(texts, labels)
        out["dev"] = score([r["intent"] for r in dev], cand.predict([r["text"] for r in dev]))
    if extra:
        (tr_t, tr_y), (te_t, te_y) = extra
        cand.fit(tr_t, tr_y)
        out["new_examples"] = score(te_y, cand.predict(te_t))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--dev-set", default=str(ROOT.parent / "shared" / "data" / "intents_dev.jsonl"))
    p.add_argument("--old-examples", default=None, help="fixtures file from before the new examples")
    p.add_argument("--only", default=None, help="substrings (comma-separated) of the candidate names to run")
    p.add_argument("--by-batch", action="store_true", help="leave-one-batch-out and chronological scores")
    p.add_argument("--rounds", action="store_true", help="score the spent probe rounds too")
    p.add_argument(
        "--old-batches", type=int, default=0, help="with --by-batch: also score batches 1..N alone"
    )
    args = p.parse_args(argv)
    texts, labels = examples()
    dev_path = Path(args.dev_set)
    dev = [json.loads(x) for x in dev_path.read_text().splitlines() if x.strip()] if dev_path.exists() else []
    extra = None
    if args.old_examples:
        old_t, old_y = examples(Path(args.old_examples))
        seen = set(old_t)
        new = [(t, y) for t, y in zip(texts, labels, strict=True) if t not in seen]
        extra = ((old_t, old_y), ([t for t, _ in new], [y for _, y in new]))
    print(json.dumps({"examples": len(texts), "folds": args.folds, "dev": len(dev)}))
    for cand in candidates():
        if args.only and not any(part in cand.name for part in args.only.split(",")):
            continue
        res = evaluate(cand, texts, labels, args.folds, dev, extra)
        if args.by_batch:
            res.update(evaluate_batches(cand, batches(), args.old_batches))
        if args.rounds:
            res["rounds"] = evaluate_rounds(cand, texts, labels)
        print(json.dumps({"candidate": cand.name, **res}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
