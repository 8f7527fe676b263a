"""Intent recognition: an offline classifier trained from the Intent Definitions.

The model is trained on first use from the enabled ``Intent Definition`` rows in
the store (one example per line), or from the shipped fixtures file when the
store has none or there is no runtime at all (the ``classify`` CLI). Features are
TF-IDF word 1–2-grams plus character 2–5-grams (robust to the typos and
SMS-speak people really send) and three marks (another institution named;
words of complaint, anger or legal threat; no word of the Board's business), into a linear SVM whose scores a softmax with a
fitted temperature turns into the confidence. A small rule layer answers bare greetings and
goodbyes, and :func:`classify` recognises when a message answers the bot's own
open question (``pending``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant_crm.services.infra.versioned_cache import VersionedCache
from assistant_crm.services.models import INTENTS, IntentResult

log = logging.getLogger("assistant_crm.intents")

DOCTYPE = "Intent Definition"
FIXTURES_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "intent_definition.json"


def _default_threshold() -> float:
    try:
        from assistant_crm.services.infra.settings import settings_fields

        return float(settings_fields()["intent_confidence_threshold"].get("default") or 0.45)
    except Exception:  # the Settings JSON is part of the app; this is only a guard
        return 0.45


#: Below this confidence the pipeline asks a clarifying question instead of guessing.
#: The live value is the setting ``intent_confidence_threshold`` (see :func:`confidence_threshold`).
LOW_CONFIDENCE: float = _default_threshold()


@dataclass(frozen=True)
class IntentConfig:
    """How the pipeline treats an intent (from its Intent Definition)."""

    requires_auth: bool = False
    needs_live_data: bool = False
    escalate: bool = False


# ------------------------------------------------------------------ normalisation

_NRC_RE = re.compile(r"(?<![\d/])\d{6}\s*[/\\\- ]?\s*\d{2}\s*[/\\\- ]?\s*\d(?![\d/])")
_CLAIM_RE = re.compile(r"(?<![a-z0-9])clm[\s\-_/]?\d{2,4}[\s\-_/]?\d{3,6}(?!\d)")
_PHONE_RE = re.compile(r"(?<![\w/])\+?\d[\d \-]{7,15}\d(?![\w/])")
_MONEY_RE = re.compile(r"(?<![a-z0-9])(?:k|zmw|kr)\s?\d[\d,]*(?:\.\d+)?(?![a-z0-9])")
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d\d(?:/\d\d)?(?!\d)")
_NUM_RE = re.compile(r"\d+")
_BANGS_RE = re.compile(r"!{2,}")
_APOSTROPHE_RE = re.compile(r"[’'`]")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")

# Placeholders stand for identifiers, so "NRC 123456/78/1" and "nrc 654321/11/1"
# look the same to the model and a bare NRC is recognisable.
PLACEHOLDERS = {
    "nrc": "zznrc",
    "claim": "zzclaim",
    "phone": "zzphone",
    "money": "zzmoney",
    "year": "zzyear",
    "num": "zznum",
}

# SMS-speak and common misspellings, expanded so they share features with the
# plain-English examples. Only unambiguous short forms are listed.
SMS_EXPANSIONS: dict[str, str] = {
    "pls": "please",
    "plz": "please",
    "plis": "please",
    "pliz": "please",
    "pse": "please",
    "plse": "please",
    "hw": "how",
    "wen": "when",
    "wn": "when",
    "wat": "what",
    "wht": "what",
    "wot": "what",
    "wats": "what is",
    "whats": "what is",
    "whr": "where",
    "wer": "where",
    "whre": "where",
    "wher": "where",
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "ma": "my",
    "mi": "my",
    "thnx": "thanks",
    "thx": "thanks",
    "tnx": "thanks",
    "thanx": "thanks",
    "thnks": "thanks",
    "tnks": "thanks",
    "thks": "thanks",
    "tks": "thanks",
    "ty": "thank you",
    "gud": "good",
    "gd": "good",
    "mrng": "morning",
    "mrn": "morning",
    "mng": "morning",
    "evng": "evening",
    "evning": "evening",
    "afternun": "afternoon",
    "nite": "night",
    "nyt": "night",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "2moro": "tomorrow",
    "2day": "today",
    "2nite": "tonight",
    "sm1": "someone",
    "some1": "someone",
    "sum1": "someone",
    "any1": "anyone",
    "no1": "no one",
    "cn": "can",
    "hv": "have",
    "hav": "have",
    "nt": "not",
    "havnt": "have not",
    "havent": "have not",
    "hvnt": "have not",
    "didnt": "did not",
    "dint": "did not",
    "dnt": "do not",
    "dont": "do not",
    "cant": "cannot",
    "wont": "will not",
    "isnt": "is not",
    "im": "i am",
    "wil": "will",
    "wud": "would",
    "recvd": "received",
    "rcvd": "received",
    "receivd": "received",
    "recieved": "received",
    "recived": "received",
    "pymt": "payment",
    "pmt": "payment",
    "paymnt": "payment",
    "docs": "documents",
    "doc": "document",
    "cert": "certificate",
    "certs": "certificates",
    "info": "information",
    "msg": "message",
    "abt": "about",
    "bcoz": "because",
    "coz": "because",
    "cuz": "because",
    "b4": "before",
    "2": "to",
    "4": "for",
    "wk": "week",
    "wks": "weeks",
    "yr": "year",
    "yrs": "years",
    "mnth": "month",
    "mths": "months",
    "numba": "number",
    "nmbr": "number",
    "no.": "number",
    "acc": "account",
    "acct": "account",
    "asap": "urgently",
    "updte": "update",
    "updt": "update",
    "chng": "change",
    "chnge": "change",
    "compasation": "compensation",
    "compesation": "compensation",
    "compansation": "compensation",
    "pention": "pension",
    "pensin": "pension",
    "penshen": "pension",
    "claime": "claim",
    "assesment": "assessment",
    "asessment": "assessment",
    "registar": "register",
    "registr": "register",
    "bt": "but",
    "nw": "now",
    "ws": "was",
    "wit": "with",
    "wth": "with",
    "frm": "from",
    "kno": "know",
}


# Other bodies people confuse with the Board (intent guide: "a near-miss that names
# another body is out of scope"). Each becomes one shared token as well, so what
# the examples teach about NAPSA or PACRA carries over to a body no example names.
# Banks are left out: people name their bank in requests the Board does handle.
_OTHER_BODY_RE = re.compile(
    r"\b(?:napsa|nhima|zra|pacra|rtsa|zesco|lasf|pspf|pspb|psmd|unza|cbu|teveta|fisp|ecz|zicta|zamtel|"
    r"nwasco|lwsc|ccpc|zppa|boz|dmmu|zsic|zapd|madison|nhis|tpin|paye|passport|immigration|"
    r"social\s+(?:cash|welfare)|cash\s+transfer|labour\s+office|labour\s+commissioner|insurer|"
    r"university|universities|college|bursary|public\s+service\s+pensions?)\b"
)
OTHER_BODY_MARK = "zzotherbody"

# Words of the Board's own business, in the five languages. A message with none
# of them gets a mark of its own: off-topic questions share "what is" or "I want"
# with real ones, and the examples teach that the absence of any Board word is
# what they have in common, whatever the topic (bitcoin, goats, the army).
_DOMAIN_RE = re.compile(
    r"\b(?:compens\w*|claim\w*|pension\w*|penshoni|injur\w*|accident\w*|wcfcb|board|fund|employer\w*|"
    r"employee\w*|worker\w*|assess\w*|contribut\w*|arrears|penalt\w*|benefit\w*|grant|funeral|lump|"
    r"commut\w*|medical|disab\w*|doctor|hospital|document\w*|form|forms|certificate\w*|report\w*|"
    r"payment\w*|paid|pay|officer\w*|agent|manager|complain\w*|complaint\w*|office\w*|branch\w*|"
    r"letter|statement|card|dependa\w*|widow\w*|death|died|dead|late|sick|disease|mine|miner|factory|"
    r"zzclaim|zznrc|zzmoney|ndalama|indalama|mali|ncito|ntchito|mulimo|musebezi|ofesi|ofisi|kampani|"
    r"company|business|mapepala|ifipepala|mapepa|mapampili|cipatala|chipatala|lipoti|ngozi|nalicena|"
    r"ndinavulal\w*|ndakacis\w*|holofal\w*|alifwile|anamwalira|wakafwa|shwile|chipukuta|injury|hurt)\b"
)
NO_DOMAIN_MARK = "zznodomain"
DOMAIN_MARK_ENABLED = True

# Words of complaint, anger and legal threats, in the five languages (intent guide:
# a complaint is escalation even with no request for a person). One shared mark
# lets what the examples teach about "useless" carry over to "incompetent".
_COMPLAINT_RE = re.compile(
    r"\b(?:pathetic|disgrace\w*|shame\w*|useless|rubbish|nonsense|unacceptable|ridiculous|incompeten\w*|"
    r"lazy|corrupt\w*|thie\w+|cheat\w*|liars?|lies|lying|rude\w*|insult\w*|humiliat\w*|disrespect\w*|worst|"
    r"terrible|horrible|appall\w*|disgust\w*|frustrat\w*|furious|angry|annoyed|fed\s+up|sick\s+and\s+tired|"
    r"tired\s+of|heartless|careless|negligen\w*|scandal\w*|mess|nobody\s+(?:cares|helps|answers)|"
    r"complain\w*|sue|suing|lawyers?|advocates?|attorney\w*|legal\s+action|court(?!\s+order)|media|newspapers?|radio|"
    r"znbc|ombudsman|mp|cipyu|natumpwa|bufi|ubufi|nsoni|ndakwiya|kwiya|bodza|manyazi|achipongwe|"
    r"mwano|ndatopa|ndanyema|ndanyemede|kubeja|nyemi|buhata|maswabi|katezi|kataezi|nyaza|cilye|khoti|"
    r"loya|wailesi)\b"
)
COMPLAINT_MARK = "zzcomplaint"
COMPLAINT_MARK_ENABLED = True
# Marks are features, not words: the rule layer and the familiarity check skip them.
_MARKS = frozenset({OTHER_BODY_MARK, NO_DOMAIN_MARK, COMPLAINT_MARK})


def names_other_body(text: str) -> bool:
    """Whether ``text`` names another institution (NAPSA, NHIMA, ZRA, a university...)."""
    return bool(_OTHER_BODY_RE.search(_strip_accents((text or "").lower())))


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalise_text(text: str) -> str:
    """Lower-cased, accent-free text with identifiers as placeholders and SMS-speak expanded."""
    t = _strip_accents((text or "").lower())
    t = _APOSTROPHE_RE.sub("", t)
    t = _CLAIM_RE.sub(f" {PLACEHOLDERS['claim']} ", t)
    t = _NRC_RE.sub(f" {PLACEHOLDERS['nrc']} ", t)
    t = _PHONE_RE.sub(
        lambda m: f" {PLACEHOLDERS['phone']} " if len(re.sub(r"\D", "", m.group(0))) >= 9 else m.group(0), t
    )
    t = _MONEY_RE.sub(f" {PLACEHOLDERS['money']} ", t)
    t = _YEAR_RE.sub(f" {PLACEHOLDERS['year']} ", t)
    t = _BANGS_RE.sub(" zzbangs ", t)  # "!!!" is a strong sign of anger
    out: list[str] = []
    for tok in _TOKEN_RE.findall(t):
        if tok.isdigit():
            # A lone 2 or 4 is more often SMS-speak ("talk 2 agent", "apply 4 it") than a count.
            out.append(
                SMS_EXPANSIONS.get(tok, PLACEHOLDERS["num"]) if tok in ("2", "4") else PLACEHOLDERS["num"]
            )
        elif _NUM_RE.search(tok) and tok not in SMS_EXPANSIONS:
            out.append(_NUM_RE.sub(" zznum ", tok).strip())
        else:
            out.append(SMS_EXPANSIONS.get(tok, tok))
    norm = " ".join(x for x in out if x and x not in (",", ".", ";", ":", '"', "(", ")", "-", "/"))
    if not norm:
        return norm
    if _OTHER_BODY_RE.search(norm):
        norm = f"{norm} {OTHER_BODY_MARK}"
    if COMPLAINT_MARK_ENABLED and _COMPLAINT_RE.search(norm):
        norm = f"{norm} {COMPLAINT_MARK}"
    if DOMAIN_MARK_ENABLED and not _DOMAIN_RE.search(norm):
        norm = f"{norm} {NO_DOMAIN_MARK}"
    return norm


# ------------------------------------------------------------------ rule layer

_GREETING_WORDS = set(
    """hello helo hellow hallo hi hie hey heya hiya yo howzit greetings good morning afternoon evening day
    mwapoleni mwapoleni mwashibukeni mwaiseni mwachoma muli shani uli mulishani moni mwadzuka mwaswera bwanji
    muribwanji mwabuka buti mwabonwa mwalibuka lumela lumelang zuhile cwani how are you doing today
    there sir madam mam team all everyone bane mukwai bambo amayi ba a wcfcb nonse boss friends people
    dear mwebantu ndate me sha mukwesu ?""".split()
)
_GREETING_CORE = set(
    """hello helo hellow hallo hi hie hey heya hiya howzit greetings morning afternoon evening mwapoleni
    mwashibukeni mwaiseni shani mulishani moni mwadzuka mwaswera bwanji muribwanji mwabuka mwabonwa mwalibuka
    lumela lumelang zuhile day""".split()
)
_GOODBYE_WORDS = set(
    """bye goodbye thanks thank you very much so a lot alot many cheers ok okay alright fine great cool noted
    see later take care good night zikomo kwambiri tsalani bwino tionana natotela sana twatotela shaleni
    shalenipo twalumba ndalumba kapati mwasyala kabotu ni itumezi hahulu sha mu siale hande mukwai bambo amayi
    madam sir bane for now all the your help !""".split()
)
_GOODBYE_CORE = set(
    """bye goodbye thanks thank cheers night zikomo tsalani tionana natotela twatotela shaleni shalenipo
    twalumba ndalumba mwasyala itumezi siale""".split()
)
_GREETING_EMOJI = ("👋", "🙋")
_GOODBYE_EMOJI = ("👍", "🙏", "👌")


def _rule(norm: str, raw: str) -> str | None:
    """A bare greeting or a bare goodbye (every word from the lexicon), else None."""
    # "!!" (zzbangs) does not turn "Morning!!" or "thanks!!" into anything else.
    tokens = [t for t in norm.split() if t not in _MARKS and t != "zzbangs"]
    words = [t for t in tokens if any(ch.isalnum() for ch in t)]
    symbols = "".join(t for t in tokens if not any(ch.isalnum() for ch in t))
    if not tokens or len(words) > 6:
        return None
    if not words:
        # Only emoji and punctuation: a wave is a greeting, a thumbs-up or folded hands a goodbye.
        if any(e in symbols for e in _GREETING_EMOJI):
            return "greeting"
        if any(e in symbols for e in _GOODBYE_EMOJI):
            return "goodbye"
        return None
    if all(w in _GREETING_WORDS for w in words) and any(w in _GREETING_CORE for w in words):
        return "greeting"
    if all(w in _GOODBYE_WORDS for w in words) and any(w in _GOODBYE_CORE for w in words):
        return "goodbye"
    return None


# ------------------------------------------------------------------ training

WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
# A linear SVM (liblinear): on unseen text it beat logistic regression, SGD,
# naive Bayes and a calibrated ensemble in the comparison of docs/performance.md,
# and trains in a fraction of the time. Its scores become probabilities by a
# softmax with one temperature fitted on out-of-fold scores (see _temperature).
REGULARISATION_C = 1.0
# Added to the out_of_scope score (in margin units, before the temperature): a
# near-domain message no example covers ("how do I register with ECZ") tends to
# land on the in-scope intent whose words it shares. Chosen by cross-validation
# over the examples (docs/performance.md).
OUT_OF_SCOPE_BIAS = 0.2
#: Folds for the out-of-fold scores the temperature is fitted on.
CALIBRATION_FOLDS = 3


@dataclass
class _Model:
    classes: list[str]
    configs: dict[str, IntentConfig]
    vocabulary: frozenset[str]  # word tokens seen in training (unknown-input check)
    source: str  # "store" | "fixtures"
    n_examples: int
    word_index: dict[str, int]
    char_index: dict[str, int]
    idf: np.ndarray  # word idf then char idf, aligned with the columns of coef
    coef: np.ndarray  # (n_classes, n_features), column-major for fast column picks
    intercept: np.ndarray
    temperature: float = 1.0  # folded into coef and intercept already; kept for inspection
    fingerprint: str = ""  # of the definitions and the code it was built from (see build)
    origin: str = "trained"  # "trained" | "disk" (loaded from the model cache)


def load_fixture_definitions(path: Path | str = FIXTURES_PATH) -> list[dict[str, Any]]:
    """The Intent Definitions shipped as Frappe fixtures."""
    with open(path, encoding="utf-8") as f:
        docs = json.load(f)
    return [d for d in docs if d.get("doctype", DOCTYPE) == DOCTYPE]


def _store_definitions() -> list[dict[str, Any]]:
    try:
        from assistant_crm.services.infra.ports import get_runtime

        rt = get_runtime()
    except RuntimeError:
        return []  # no runtime installed (the CLI, a bare script): the fixtures are the truth
    try:
        return list(rt.store.list(DOCTYPE, {"enabled": 1}))
    except Exception:
        log.warning(
            "intents: could not read Intent Definitions from the store; using the fixtures", exc_info=True
        )
        return []


def load_definitions() -> tuple[list[dict[str, Any]], str]:
    """Enabled Intent Definitions from the store, else from the fixtures file."""
    rows = [r for r in _store_definitions() if (r.get("examples") or "").strip()]
    if rows:
        return rows, "store"
    return [d for d in load_fixture_definitions() if int(d.get("enabled", 1) or 0)], "fixtures"


def _examples(row: dict[str, Any]) -> list[str]:
    return [line.strip() for line in (row.get("examples") or "").splitlines() if line.strip()]


def _word_ngrams(text: str) -> list[str]:
    tokens = text.split()
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def _char_ngrams(text: str) -> list[str]:
    # The same n-grams as sklearn's analyzer="char_wb": within words padded by spaces.
    out: list[str] = []
    lo, hi = CHAR_NGRAMS
    for w in text.split():
        w = f" {w} "
        length = len(w)
        for n in range(lo, hi + 1):
            if length <= n:  # a short word counts once, as sklearn does
                out.append(w)
                break
            out.extend(w[i : i + n] for i in range(length - n + 1))
    return out


def _vectorizers() -> tuple[Any, Any]:
    """Word 1–2-grams (meaning) and character 2–5-grams within words (typos, SMS-speak, Bantu morphology)."""
    # Imported here: scikit-learn takes ~0.5 s to import and only training needs it;
    # a worker that loads the cached model (see build) never pays for it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = {"sublinear_tf": True, "lowercase": False, "dtype": np.float64}
    return (
        TfidfVectorizer(analyzer=_word_ngrams, **common),
        # Every character n-gram, even one seen once: a rare Tonga or Lozi stem is
        # often such an n-gram, and keeping them led on every unseen measure
        # (out-of-scope recall +2-3 points; docs/performance.md, 2026-11-30).
        TfidfVectorizer(analyzer=_char_ngrams, min_df=1, **common),
    )


def training_set(definitions: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[str, IntentConfig]]:
    """The normalised examples, their intents and each intent's flags, in a fixed order."""
    texts: list[str] = []
    labels: list[str] = []
    configs: dict[str, IntentConfig] = {}
    # In name order: the same definitions give the same model whether they come
    # from the fixtures file or from the store (in whatever order it lists them).
    for row in sorted(definitions, key=lambda r: str(r.get("intent_name") or r.get("name") or "").strip()):
        name = (row.get("intent_name") or row.get("name") or "").strip()
        if not name:
            continue
        configs[name] = IntentConfig(
            requires_auth=bool(int(row.get("requires_auth") or 0)),
            needs_live_data=bool(int(row.get("needs_live_data") or 0)),
            escalate=bool(int(row.get("escalate") or 0)),
        )
        for example in _examples(row):
            texts.append(normalise_text(example))
            labels.append(name)
    return texts, labels, configs


def train(definitions: list[dict[str, Any]], source: str = "fixtures") -> _Model:
    """Fit the classifier on the examples of ``definitions`` (rows of Intent Definition)."""
    texts, labels, configs = training_set(definitions)
    if len(set(labels)) < 2:
        raise ValueError("intent classifier needs examples for at least two intents")
    from scipy import sparse

    word_vec, char_vec = _vectorizers()
    x = sparse.hstack([word_vec.fit_transform(texts), char_vec.fit_transform(texts)]).tocsr()
    clf = classifier().fit(x, labels)
    coef, intercept = _per_class(clf)
    temperature = _temperature(x, labels, [str(c) for c in clf.classes_])
    n_word = len(word_vec.vocabulary_)
    return _Model(
        classes=[str(c) for c in clf.classes_],
        configs=configs,
        vocabulary=frozenset(w for t in texts for w in t.split()),
        source=source,
        n_examples=len(texts),
        word_index=dict(word_vec.vocabulary_),
        char_index={k: v + n_word for k, v in char_vec.vocabulary_.items()},
        idf=np.concatenate([word_vec.idf_, char_vec.idf_]),
        # The temperature is folded into the weights: softmax(t * (w.x + b)) = softmax((t*w).x + t*b).
        coef=np.asfortranarray(coef * temperature),
        intercept=_with_bias(clf.classes_, intercept) * temperature,
        temperature=temperature,
    )


def classifier() -> Any:
    """The (unfitted) estimator the model is trained with."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=REGULARISATION_C, random_state=0)


def _per_class(clf: Any) -> tuple[np.ndarray, np.ndarray]:
    """One row of weights per class; a two-class model's single row becomes ±half of it.

    With two classes sklearn keeps one score d for the second class; scores
    (-d/2, d/2) give the same softmax as the sigmoid of d, so the scoring code
    has one shape for every case.
    """
    coef, intercept = np.asarray(clf.coef_, dtype=np.float64), np.asarray(clf.intercept_, dtype=np.float64)
    if coef.shape[0] == 1 and len(clf.classes_) == 2:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    return coef, intercept


def _temperature(x: Any, labels: list[str], classes: list[str]) -> float:
    """The softmax temperature that makes the SVM's scores honest probabilities.

    Fitted by minimising the log-loss of out-of-fold scores (each example scored
    by a model that never saw it), so a confidence of 0.8 is right about 80 % of
    the time on unseen text, and the threshold keeps its meaning.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    counts = Counter(labels)
    folds = min(CALIBRATION_FOLDS, min(counts.values()))
    if folds < 2:
        return 5.0  # too few examples to calibrate: a moderate spread
    scores = np.zeros((len(labels), len(classes)))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
        if len(set(y[train_idx])) < len(classes):
            return 5.0
        part = classifier().fit(x[train_idx], y[train_idx])
        w, b = _per_class(part)
        scores[test_idx] = x[test_idx] @ w.T + _with_bias(part.classes_, b)
    gold = np.searchsorted(np.asarray(classes), y)
    best_t, best_loss = 1.0, np.inf
    for t in np.geomspace(0.5, 60.0, 48):
        z = scores * t
        z -= z.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(gold)), gold]))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t


def _with_bias(classes: Any, intercept: np.ndarray) -> np.ndarray:
    out = np.array(intercept, dtype=np.float64)
    names = [str(c) for c in classes]
    if "out_of_scope" in names:
        out[names.index("out_of_scope")] += OUT_OF_SCOPE_BIAS
    return out


def _part(grams: list[str], index: dict[str, int], idf: np.ndarray) -> tuple[list[int], np.ndarray]:
    cols: list[int] = []
    tfs: list[int] = []
    for gram, n in Counter(grams).items():  # counted in C; only distinct grams are looked up
        j = index.get(gram)
        if j is not None:
            cols.append(j)
            tfs.append(n)
    if not cols:
        return [], np.zeros(0)
    vals = (1.0 + np.log(np.asarray(tfs, dtype=np.float64))) * idf[cols]
    return cols, vals / np.sqrt(vals @ vals)


def _probabilities(model: _Model, norm: str) -> np.ndarray:
    """Class probabilities for one normalised message.

    The TF-IDF rows and the softmax are computed here directly (identical to
    sklearn's transform + predict_proba, checked by the tests): sklearn's
    per-call overhead alone is over a millisecond, the direct way ~0.1 ms.
    """
    wc, wv = _part(_word_ngrams(norm), model.word_index, model.idf)
    cc, cv = _part(_char_ngrams(norm), model.char_index, model.idf)
    scores = model.intercept.copy()
    if wc:
        scores += model.coef[:, wc] @ wv
    if cc:
        scores += model.coef[:, cc] @ cv
    scores -= scores.max()
    exp = np.exp(scores)
    return exp / exp.sum()


# ------------------------------------------------------------------ the model cache

# A trained model is built once per content version and kept on disk, so a new
# worker process loads it in milliseconds instead of training for a second or
# more (and without importing scikit-learn). The file name is a fingerprint of
# the Intent Definitions and of this module's code: an edited example or a new
# release of the classifier gives a new name, so a stale model is never loaded.
# The format is a NumPy .npz read with allow_pickle=False (arrays and strings
# only): a file someone else planted in the directory cannot run code.
MODEL_CACHE_ENV = "ASSISTANT_CRM_MODEL_CACHE_DIR"
_MODEL_FORMAT = "intents-2"
#: Models kept per directory; older content versions are removed when a new one is saved.
MODEL_CACHE_KEEP = 6


def model_cache_dir() -> Path:
    """Where built models are kept: ``$ASSISTANT_CRM_MODEL_CACHE_DIR``, else the user's cache directory."""
    env = os.environ.get(MODEL_CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assistant_crm"


def _source_digest() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{_MODEL_FORMAT}|numpy{np.__version__.split('.')[0]}".encode())
    return h.hexdigest()


# Read at import, so a process keeps naming models by the code it actually runs
# even if the file is replaced under it by a deployment.
_code_version_cache: str = _source_digest()


def code_version() -> str:
    """A hash of this module's source and the NumPy major version: changes when the model's code does."""
    return _code_version_cache


def fingerprint(definitions: list[dict[str, Any]], source: str = "fixtures") -> str:
    """A digest of everything a trained model depends on: the definitions' examples and flags, and the code."""
    rows = sorted(
        [
            str((row.get("intent_name") or row.get("name") or "").strip()),
            str(row.get("examples") or ""),
            int(row.get("requires_auth") or 0),
            int(row.get("needs_live_data") or 0),
            int(row.get("escalate") or 0),
        ]
        for row in definitions
    )
    blob = json.dumps([code_version(), source, rows], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _cache_path(fp: str) -> Path:
    return model_cache_dir() / f"intents-{fp}.npz"


def save_model(model: _Model, path: Path) -> None:
    """Write ``model`` to ``path`` atomically (a reader sees the old file or the whole new one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    words = sorted(model.word_index, key=model.word_index.__getitem__)
    chars = sorted(model.char_index, key=model.char_index.__getitem__)
    meta = {
        "format": _MODEL_FORMAT,
        "source": model.source,
        "n_examples": model.n_examples,
        "fingerprint": model.fingerprint,
        "temperature": model.temperature,
        "configs": {k: [c.requires_auth, c.needs_live_data, c.escalate] for k, c in model.configs.items()},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(
            f,
            meta=np.array(json.dumps(meta)),
            classes=np.array(model.classes),
            vocabulary=np.array(sorted(model.vocabulary)),
            words=np.array(words),
            chars=np.array(chars),
            idf=model.idf,
            coef=np.ascontiguousarray(model.coef),
            intercept=model.intercept,
        )
    os.replace(tmp, path)
    _prune(path.parent, keep=path)


def _prune(directory: Path, keep: Path) -> None:
    """Remove all but the newest :data:`MODEL_CACHE_KEEP` models (never ``keep``)."""
    try:
        files = sorted(directory.glob("intents-*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[MODEL_CACHE_KEEP:]:
            if old != keep:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first: nothing to do


def load_model(path: Path) -> _Model:
    """Read a model written by :func:`save_model` (no pickle: arrays and strings only)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != _MODEL_FORMAT:
            raise ValueError(f"model format {meta.get('format')!r}")
        words = z["words"].tolist()
        chars = z["chars"].tolist()
        n_word = len(words)
        return _Model(
            classes=z["classes"].tolist(),
            configs={k: IntentConfig(*map(bool, v)) for k, v in meta["configs"].items()},
            vocabulary=frozenset(z["vocabulary"].tolist()),
            source=meta["source"],
            n_examples=int(meta["n_examples"]),
            word_index=dict(zip(words, range(n_word), strict=True)),
            char_index=dict(zip(chars, range(n_word, n_word + len(chars)), strict=True)),
            idf=z["idf"],
            coef=np.asfortranarray(z["coef"]),
            intercept=z["intercept"],
            fingerprint=meta["fingerprint"],
            temperature=float(meta.get("temperature", 1.0)),
            origin="disk",
        )


def build(definitions: list[dict[str, Any]], source: str = "fixtures") -> _Model:
    """The model for ``definitions``: loaded from the model cache when built before, else trained and saved.

    Any trouble with the cache (unwritable directory, a damaged file) only
    costs a training run; it never stops classification.
    """
    fp = fingerprint(definitions, source)
    path = _cache_path(fp)
    started = time.perf_counter()
    if path.exists():
        try:
            model = load_model(path)
            if model.fingerprint == fp:
                log.info(
                    "intents: loaded the model for %s from %s in %.0f ms",
                    fp[:12],
                    path,
                    (time.perf_counter() - started) * 1000,
                )
                return model
            log.warning("intents: model cache file %s has another fingerprint; retraining", path)
        except Exception:
            log.warning("intents: could not load the cached model %s; retraining", path, exc_info=True)
    model = train(definitions, source)
    model.fingerprint = fp
    log.info(
        "intents: trained on %d examples of %d intents from %s in %.0f ms",
        model.n_examples,
        len(model.classes),
        source,
        (time.perf_counter() - started) * 1000,
    )
    try:
        save_model(model, path)
    except OSError as e:
        log.warning("intents: could not write the model cache %s: %s", path, e)
    return model


# Other worker processes learn of a change through a version stamp in the shared
# cache (Redis under Frappe and in standalone with redis_url), checked at most
# this often, so a change in the desk reaches every worker within seconds.
VERSION_KEY = "assistant_crm:intents:version"
VERSION_CHECK_SECONDS = 15.0


def _train_now(_store: object = None) -> _Model:
    definitions, source = load_definitions()
    return build(definitions, source)  # from the model cache when this content was built before


# One model for the process (the definitions' source decides per call, not per store).
_model_cache: VersionedCache[_Model] = VersionedCache(
    _train_now, version_key=VERSION_KEY, version_check=VERSION_CHECK_SECONDS, per_store=False
)


def _get_model() -> _Model:
    return _model_cache.get()


def reload() -> None:
    """Drop the trained model (an Intent Definition changed); the next call retrains.

    Also stamps a new version in the shared cache so other worker processes
    retrain too. Thread-safe: a classification running meanwhile finishes on
    the model it started with.
    """
    _model_cache.invalidate()


def warm_up() -> None:
    """Build (or load from the model cache) now rather than on the first message."""
    _get_model()


# ------------------------------------------------------------------ pending questions

_OTP_RE = re.compile(r"(?<![\d/+\-])\d{3}\s?\d{3}(?![\d/\-])")
_CHOICE_RE = re.compile(
    r"^\s*(?:(?:the|number|no|option|claim)\s*)?(?:\d|first|second|third|fourth|fifth|last|1st|2nd|3rd|4th|5th|one|two|three|"
    r"yakubalilapo|yoyamba|yachiwiri|yachibili)(?:\s*(?:one|claim|option))?\s*[.!]?\s*$"
)
_YES_NO_RE = re.compile(r"^\s*(?:yes|yeah|yep|no|nope|ee|ehe|inde|iyo|ayi|awe|eya|ok|okay)\s*[.!]?\s*$")
_NAME_LABEL_RE = re.compile(
    r"(?:\bmy\s+(?:full\s+)?names?\s+(?:is|are)\b|\bnames?\s*[:=]|\bfull\s+names?\b|\bndine\b|\bishina\s+lyandi\b|"
    r"\bdzina\s+langa\b|\bi\s+am\b|\bim\b|\bi'm\b)",
    re.IGNORECASE,
)


def _looks_like_identity(text: str, model: _Model) -> bool:
    if _NRC_RE.search(text):
        return True
    from assistant_crm.services.pipeline.identity_parse import parse_identity

    name = parse_identity(text).full_name
    if not name:
        return False
    if _NAME_LABEL_RE.search(text):
        return True
    # An unlabelled name: the whole message is the name, and its words are not
    # the words people use for requests (which the training examples hold).
    words = re.findall(r"[^\W\d_]+", text)
    name_words = name.split()
    if len(words) > len(name_words):
        return False
    known = sum(1 for w in name_words if _strip_accents(w.lower()) in model.vocabulary)
    return known * 2 <= len(name_words) or all(w[:1].isupper() for w in words)


def _answers_pending(text: str, pending: str, model: _Model) -> bool:
    """Whether ``text`` looks like an answer to the bot's open question ``pending``."""
    low = _strip_accents(text.lower()).strip()
    if pending == "verify_identity":
        return _looks_like_identity(text, model)
    if pending == "otp":
        return bool(_OTP_RE.search(_NRC_RE.sub(" ", low))) and len(re.sub(r"\D", "", low)) == 6
    if pending == "claim_choice":
        return bool(_CLAIM_RE.search(low) or _CHOICE_RE.match(low))
    if pending == "clarify":
        return bool(_CHOICE_RE.match(low) or _YES_NO_RE.match(low))
    return False


# ------------------------------------------------------------------ classification


RANKED_CACHE_MAX = 4096  # normalised texts kept per model (a bound: cleared when full)


def _ranked(model: _Model, norm: str) -> list[tuple[str, float]]:
    """Classes by probability for a normalised text, kept per model: the same
    short messages ("hello", "thank you", the week's common question) come
    again and again, and the model never changes under a text."""
    cache: dict[str, list[tuple[str, float]]] = model.__dict__.setdefault("_ranked_cache", {})
    ranked = cache.get(norm)
    if ranked is None:
        probs = _probabilities(model, norm)
        order = np.argsort(probs)[::-1]
        ranked = [(model.classes[i], float(probs[i])) for i in order]
        if len(cache) >= RANKED_CACHE_MAX:
            cache.clear()
        cache[norm] = ranked
    return list(ranked)  # tuples are immutable; the list is the caller's


def _familiarity(model: _Model, norm: str) -> float:
    """1.0 when at least half the words were seen in training, down to 0.5; 0.4 when none were.

    Softmax always sums to one, so keyboard-mashing lands confidently in the
    broadest class (out_of_scope); words the model has never seen are a sign it
    is guessing, and lowering the confidence makes the pipeline ask instead.
    """
    words = [w for w in norm.split() if any(ch.isalpha() for ch in w) and w not in _MARKS]
    if not words:
        return 1.0
    known = sum(1 for w in words if w in model.vocabulary)
    if not known:
        # Not one word seen: the no-domain mark alone makes out_of_scope near-certain,
        # which is a guess all the same.
        return 0.4
    return min(1.0, 0.5 + known / len(words))


def classify(text: str, pending: str | None = None, second_opinion: bool = True) -> IntentResult:
    """The intent of one message, with a confidence in 0–1 and the next best alternatives.

    ``pending`` is the bot's open question (``verify_identity``, ``otp``,
    ``claim_choice``, ``clarify``). A message that answers it is returned with
    ``source="context"`` (the intent is still the classifier's best guess, so the
    pipeline can decide); anything else is classified normally, so a person can
    change the subject while a question is open.

    An unsure classifier answer goes to Gemini for a second opinion when Gemini
    is configured (``source="gemini"``, see :mod:`.intent_second_opinion`);
    ``second_opinion=False`` keeps it offline.
    """
    model = _get_model()
    raw = text or ""
    norm = normalise_text(raw)
    if not norm.strip():
        return IntentResult(intent="out_of_scope", confidence=0.0, alternatives=[], source="classifier")
    ranked = _ranked(model, norm)
    best, score = ranked[0]
    score *= _familiarity(model, norm)
    alternatives = [(name, round(p, 4)) for name, p in ranked[1:4]]
    if pending and _answers_pending(raw, pending, model):
        return IntentResult(intent=best, confidence=score, alternatives=alternatives, source="context")
    ruled = _rule(norm, raw)
    if ruled and ruled in model.classes:
        others = [(n, round(p, 4)) for n, p in ranked if n != ruled][:3]
        return IntentResult(
            intent=ruled,
            confidence=max(score if best == ruled else 0.0, 0.95),
            alternatives=others,
            source="rule",
        )
    result = IntentResult(intent=best, confidence=score, alternatives=alternatives, source="classifier")
    return _second_opinion(raw, result, model) if second_opinion else result


def _second_opinion(raw: str, result: IntentResult, model: _Model) -> IntentResult:
    """Below the threshold, and with Gemini configured, Gemini may name the intent instead."""
    threshold = confidence_threshold()
    if result.confidence >= threshold:
        return result
    try:
        from assistant_crm.services.infra.ports import get_runtime

        configured = bool(get_runtime().settings.str("gemini_api_key"))
    except RuntimeError:
        return result  # no runtime (the classify CLI): offline only
    if not configured:
        return result
    # Imported only when needed: the Gemini client is heavy and most turns never ask it.
    from assistant_crm.services.pipeline import intent_second_opinion

    return intent_second_opinion.consult(raw, result, threshold, model.classes)


def intent_config(name: str) -> IntentConfig:
    """How the pipeline treats intent ``name``; unknown intents need nothing special."""
    return _get_model().configs.get(name, IntentConfig())


def known_intents() -> list[str]:
    """The intents the trained model can return."""
    return list(_get_model().classes)


def confidence_threshold() -> float:
    """The live low-confidence threshold (setting ``intent_confidence_threshold``)."""
    try:
        from assistant_crm.services.infra.ports import get_runtime

        value = get_runtime().settings.float("intent_confidence_threshold")
    except RuntimeError:
        return LOW_CONFIDENCE
    return value if 0.0 <= value <= 1.0 else LOW_CONFIDENCE


def is_confident(result: IntentResult) -> bool:
    """True when the pipeline may act on ``result`` without a clarifying question."""
    if result.source in ("context", "rule", "gemini"):
        return True
    return result.confidence >= confidence_threshold()


__all__ = [
    "INTENTS",
    "IntentConfig",
    "LOW_CONFIDENCE",
    "classify",
    "confidence_threshold",
    "intent_config",
    "is_confident",
    "known_intents",
    "load_definitions",
    "build",
    "fingerprint",
    "normalise_text",
    "reload",
    "train",
    "warm_up",
]
