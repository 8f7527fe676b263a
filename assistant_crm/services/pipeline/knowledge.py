"""Knowledge-base retrieval: Okapi BM25 over passages of published articles.

Each published Knowledge Base Article is cut into passages (its paragraphs, short
ones joined, long ones split at sentence ends); a passage is indexed together
with its article's title and keywords, so a question that names the topic finds
the right article even when the passage itself words it differently.

Scores are normalised to 0..1 as *coverage*: how much of the question's
evidence a passage matches, each query word weighted by its IDF (and words we
have never seen weighted like the rarest word). A question about football
matches nothing much and scores near 0, which is what lets :func:`best` say
"no good answer" instead of quoting something unrelated.

The index lives in process for up to an hour, keyed by a fingerprint of the
published articles (count and latest ``modified``) that is re-read at most every
30 seconds; :func:`invalidate` drops it at once (and, through a version counter
in the shared cache, in other processes within a second).
"""

from __future__ import annotations

import difflib
import functools
import html
import logging
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from assistant_crm.services.infra.versioned_cache import VersionedCache
from assistant_crm.services.models import Passage

log = logging.getLogger("assistant_crm.knowledge")

DOCTYPE = "Knowledge Base Article"
INDEX_TTL_SECONDS = 3600
FINGERPRINT_CHECK_SECONDS = 30
VERSION_CHECK_SECONDS = 1.0
VERSION_KEY = "assistant_crm:kb:version"
# "No good answer" below NO_ANSWER_THRESHOLD, unless at least two of the question's
# words name the article's topic (title/keywords) and it scores TOPIC_MATCH_THRESHOLD.
# Tuned on tests/test_knowledge.py and two probe sets (docs/performance.md).
NO_ANSWER_THRESHOLD = 0.45
TOPIC_MATCH_THRESHOLD = 0.3
# ... or ONE_TOPIC_THRESHOLD with one word in the title/keywords: "rehab services
# for injured workers?", "who gets paid if a worker dies" (0.40-0.43) are answered;
# "what is the price of bread", "a loan from the bank" (0.39, an incidental topic
# word) stay below, and out_of_scope messages need more (dialogue/policy.py).
ONE_TOPIC_THRESHOLD = 0.4
# ... or MANY_TOPICS_THRESHOLD with three or more: a long question whose topic
# words all name one article ("the statutory period for notifying the Board of
# a workplace accident") is about it however many other words it has.
MANY_TOPICS_THRESHOLD = 0.2
# The IDF the matched words of a question must add up to: "work" alone (in half
# the passages) is too little to answer, "pension" or "funeral" alone is enough.
MIN_EVIDENCE = 0.8
K1, B = 1.2, 0.75
SYNONYM_WEIGHT = 0.8
# The article's title and keywords are indexed with every passage of it (term
# frequency weights): a title word is strong evidence, a keyword a lighter one.
TITLE_WEIGHT = 2.0
KEYWORD_WEIGHT = 0.5
# A query word found only in a passage's text (not its title or keywords) is
# weaker evidence that the passage is about the question.
BODY_CREDIT = 0.4
# A word in the title or keywords but not in the passage itself: the article is
# on topic, but another passage of it that says the word is the better answer.
HEADER_ONLY_CREDIT = 0.9
# BM25 of a later passage of an article is discounted by this much per place.
POSITION_DISCOUNT = 0.2
# Weight of a query word found nowhere in the index, as a share of the highest IDF:
# the evidence that the question is about something we have no article on.
UNKNOWN_WORD_WEIGHT = 1.0
# ... unless the question is partly in Bemba or Nyanja: an unknown word there is
# most likely grammar ("tushilalanda") rather than a topic we have no article on.
UNKNOWN_LOCAL_WORD_WEIGHT = 0.3
MAX_PASSAGE_CHARS = 450
# A sentence found in this many articles is boilerplate: not indexed.
BOILERPLATE_MIN_ARTICLES = 4
MIN_PASSAGE_CHARS = 250

_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    get got had has have having he her here hers him his how i if in into is it its itself just
    kindly let me more most my myself no nor not now of off on once only or other our ours out
    over own please same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while who
    whom will with would you your yours yourself sir madam mukwai hello hi hey dear thanks thank
    want wanted need like know tell ask asking help im ive id dont cant u ur pls plz ok okay got get
    hasnt havent didnt doesnt isnt wasnt wont arent werent shouldnt couldnt wouldnt yet still
    really just maybe much many long soon time wat wht hw mch abt wen whr cn dat dis de ma mi
    ni pa na ya yanga zanga langa anga wanga lyandi yandi iyi ichi uku nifwaya ndefwaya ndifuna
    ukulanda kulankhula mukwai bane kodi bushe yanu yenu ili kuti ku kwi whats someone anyone
    something every must able possible also only all any one people wants yesterday today tomorrow
    week weeks last ago morning actually exactly currently basically simply right now please thing
    things kind sort whether per give gives given giving against towards toward upon""".split()
)
# Function words of scikit-learn's English list that ours lacked ("even though",
# "already", "however"): each unknown to the index counted as a topic we have no
# article on. Words that carry a topic here are left out of it (amount, bill,
# due, except, first, full, name, next, part, show, system, the numbers, why,
# within; besides, alone, enough: keywords and facts say them).
_STOPWORDS = (
    _STOPWORDS
    | frozenset(
        """across afterwards almost along already although always among amongst another anyhow anything
    anyway anywhere around became become becomes becoming beforehand behind beside beyond cannot
    either else elsewhere etc even ever everyone everything everywhere hence herself himself however
    indeed latter meanwhile might moreover mostly namely neither nevertheless nobody noone nothing
    nowhere often onto others otherwise ourselves perhaps rather seem seemed seeming seems several
    since somehow sometime sometimes somewhere themselves thence thereafter thereby therefore though
    throughout thru thus together via whatever whenever whereas wherever whoever yourselves may
    say says said heard hear hearing true guys neighbour neighbor friend""".split()
    )
    | frozenset(
        # Every question is asked in Zambia: the country's name is no topic ("do you
        # have offices in Zambia" is about branches, not "Treatment outside Zambia").
        ["zambia"]
    )
)

# Bemba and Nyanja function words, question words and fillers that people mix
# into English ("Bushe ... lilali?", "Kodi ... ndi zingati?"). They carry no
# topic, and without this list each would count as a word we cannot match.
_LOCAL_STOPWORDS = frozenset(
    """bushe kodi ndi ni ba nabo bali ali ilyo pa ku mu ya wa la za ca cha kuti ngati nga nshi
    cinshi chinshi chani chiyani bwanji shani lilali liti angati shinga zingati ingi yonse onse
    sana nomba tsopano lelo nao ine iwe ife ifwe imwe ndine ukwishiba kudziwa ndifuna nifwaya
    ndefwaya tulefwaya tikufuna ndikufuna ndingathe ningathe chonde napapata zikomo natotela
    muli uli eya inde awe iyo ayi ndiye ndipo koma kwa na kapena nangu ukuti kuli pali apo apa
    uko ichi ici iyi ili ilo aba awo aya yanji yani nani bane mukwai bambo amai mwe bwino ndili
    ndinu muli twa tu ka aka uku ukwa kwi ko yandi yanga wanga wandi zanga zathu yathu yesu
    yenu yanu wanu lyandi changa chathu canji ichinshi finshi fyonse zonse ngo ngu so nani
    ilingi kangati kanshi ndiye yake yakwe wake wakwe bake bakwe akwe ake ndipo ndiponso munthu
    umuntu muntu ndani kwanga kwathu kwake pambuyo pamene kupatula""".split()
)

# Phrases rewritten before tokenising (multi-word meanings).
_PHRASES = (
    ("passed away", "died"),
    ("pass away", "died"),
    ("lump sum", "lump_sum commute"),
    ("all at once", "lump_sum commute"),
    ("at once", "lump_sum"),
    ("as well as", "and"),
    ("on duty", "at work"),
    ("on the job", "at work"),
    ("in one go", "lump_sum"),
    ("mobile money", "mobile_money"),
    # (the article is also about "the form": "which form do I fill")
    ("form no. 6", "form form_6"),
    ("form no 6", "form form_6"),
    ("form number 6", "form form_6"),
    ("form 6", "form form_6"),
    ("cost of living", "inflation"),
    ("go up", "increase"),
    ("goes up", "increase"),
    ("gone up", "increase"),
    ("money back", "refund"),
    ("look after", "support"),
    ("take care of", "support"),
    ("pay back", "refund"),
    ("by when", "deadline"),
    ("how long do i have", "deadline"),
    ("how long do we have", "deadline"),
    ("how long does an employer have", "deadline"),
    ("how much time", "deadline"),
    ("tell the board", "report board"),
    ("tell wcfcb", "report board"),
    ("let the board know", "report board"),
    ("let wcfcb know", "report board"),
    ("how soon", "deadline"),
    ("real person", "agent person"),
    ("human being", "agent person"),
    ("customer care", "agent"),
    ("country code", "prefix 260"),
    ("dialling code", "prefix 260"),
    ("dialing code", "prefix 260"),
    ("how big", "size amount"),
    ("how large", "size amount"),
    ("stand for", "mean"),
    ("stands for", "mean"),
)

_TOWNS = (
    "lusaka|ndola|kitwe|kabwe|livingstone|chipata|kasama|solwezi|mansa|mongu|choma|chingola|"
    "mufulira|luanshya|chililabombwe|kafue|mazabuka|kapiri|mpika|nakonde"
)

# Phrases with a gap: "what does the board (actually) do" asks for its role.
_PATTERNS = (
    (
        re.compile(
            r"\b(board|wcfcb|you|you guys|you people|your organisation|your organization)\s+(?:\w+ly\s+)?do\b"
        ),
        r"\1 role",
    ),
    (re.compile(r"\b(went|gone|go|goes|going|was|were|been)\s+(?:\w+\s+)?up\b"), " increase "),
    # "who do they (actually) help": whom the Board compensates.
    (
        re.compile(
            r"\bwho\s+(?:\w+\s+)?(?:do|does|will|can)\s+(?:board|you|they|you\s+people)\s+(?:\w+ly\s+)?"
            r"(?:help|assist|serve|support|cover|pay|compensate)\b"
        ),
        " role compensates covered ",
    ),
    # "branches outside Lusaka" asks about branches; "outside Zambia" stays abroad.
    (re.compile(r"\b(?:outside|beyond|apart\s+from|other\s+than)\s+(?=(?:" + _TOWNS + r")\b)"), " branch "),
    (re.compile(r"\b(?:pay|paid|paying|pays)\s+out\b"), " paid payout "),
    # "what (benefits) can I get": what one is entitled to (all of it stop words).
    (
        re.compile(
            r"\bwhat\b(?:\s+\w+){0,3}?\s+(?:can|could|do|does|will|would|should)\s+"
            r"(?:i|we|they|you|he|she|dependants|my\s+\w+|our\s+\w+)\s+get\b"
        ),
        r"\g<0> entitled ",
    ),
)

# Query-side synonyms: a word also matches these (at SYNONYM_WEIGHT).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "money": ("payment", "pension", "benefit"),
    "buy": ("provide",),
    "supply": ("provide",),
    "collect": ("collecting", "assessment"),
    "collects": ("collecting", "assessment"),
    "funded": ("assessment", "collecting"),
    "funding": ("assessment", "collecting"),
    "compensated": ("compensates",),
    "cash": ("payment", "lump_sum"),
    "paid": ("payment",),
    "pay": ("payment", "assessment"),
    "salary": ("earnings", "wages"),
    "wage": ("earnings",),
    "wages": ("earnings",),
    "income": ("earnings",),
    "hurt": ("injury", "accident", "injured"),
    "injured": ("injury", "accident"),
    "injury": ("injured", "accident"),
    "injuries": ("injury", "accident"),
    "wounded": ("injury", "accident"),
    "accident": ("injury",),
    "boss": ("employer",),
    "company": ("employer", "business"),
    "firm": ("employer", "business"),
    "business": ("employer",),
    "employers": ("employer",),
    "die": ("death", "died", "funeral"),
    "died": ("death", "funeral"),
    "dead": ("death", "died"),
    "killed": ("died", "death"),
    "kill": ("died", "death"),
    "fatal": ("died", "death"),
    "spent": ("paid",),
    "spend": ("paid",),
    "expenses": ("costs",),
    "expense": ("costs",),
    "deceased": ("death", "died"),
    "death": ("died", "funeral"),
    "burial": ("funeral",),
    "bury": ("funeral",),
    "funeral": ("burial",),
    "sick": ("disease", "illness"),
    "ill": ("disease", "illness"),
    "illness": ("disease",),
    "disabled": ("disability",),
    "handicap": ("disability",),
    "contribution": ("assessment",),
    "contributions": ("assessment",),
    "premium": ("assessment",),
    "levy": ("assessment",),
    "deadline": ("due", "days"),
    "late": ("due",),
    "office": ("branch",),
    "offices": ("branch",),
    "location": ("branch",),
    "address": ("branch",),
    "id": ("nrc",),
    "human": ("agent", "person"),
    "person": ("agent",),
    "officer": ("agent", "staff"),
    "complain": ("agent",),
    "refund": ("reimburse", "refunded"),
    "reimbursement": ("refund",),
    "bills": ("medical", "costs"),
    "hospital": ("medical", "treatment"),
    "doctor": ("medical",),
    "abroad": ("outside",),
    "overseas": ("abroad", "outside"),
    "increase": ("indexed", "raised"),
    "inflation": ("indexed", "cpi", "prices"),
    "lowest": ("minimum",),
    "least": ("minimum",),
    "smallest": ("minimum",),
    "kids": ("children", "dependants"),
    "wife": ("spouse", "dependants", "marriage"),
    "husband": ("spouse", "dependants", "marriage"),
    "family": ("dependants",),
    "children": ("dependants",),
    "papers": ("documents",),
    "law": ("act",),
    "language": ("languages",),
    "safe": ("safety", "prevention"),
    "private": ("privacy",),
    "wheelchair": ("assistive",),
    "crutches": ("assistive",),
    "register": ("registration",),
    "registration": ("register",),
    "claiming": ("claim",),
    "tell": ("report", "notify"),
    "inform": ("report", "notify"),
    "notify": ("report",),
    "leg": ("injury", "accident"),
    "arm": ("injury", "accident"),
    "hand": ("injury", "accident"),
    "finger": ("injury", "accident"),
    "fingers": ("injury", "accident"),
    "eye": ("injury", "accident"),
    "back": ("injury",),
    "burn": ("injury", "accident"),
    "burnt": ("injury", "accident"),
    "fracture": ("injury", "accident"),
    "shop": ("business", "employer"),
    "opened": ("start", "starting"),
    "started": ("start", "starting"),
    "new": ("start", "starting"),
    "mining": ("industry", "risk"),
    "construction": ("industry", "risk"),
    "industry": ("class",),
    "dangerous": ("risk", "riskier"),
    "risky": ("riskier", "risk"),
    "soldier": ("defence",),
    "soldiers": ("defence",),
    "army": ("defence",),
    "military": ("defence",),
    "zaf": ("defence",),
    "government": ("civil",),
    "clinic": ("medical", "hospital"),
    "operation": ("treatment",),
    "surgery": ("treatment",),
    "india": ("abroad",),
    "china": ("abroad",),
    "botswana": ("abroad",),
    "zimbabwe": ("abroad",),
    "namibia": ("abroad",),
    "tanzania": ("abroad",),
    "kenya": ("abroad",),
    "outside": ("abroad",),
    "annual": ("year",),
    "yearly": ("year", "annual"),
    "broke": ("injury", "accident"),
    "father": ("dependants", "family"),
    "mother": ("dependants", "family"),
    "son": ("dependants", "children"),
    "daughter": ("dependants", "children"),
    "parent": ("dependants", "family"),
    "parents": ("dependants", "family"),
    "widow": ("spouse", "dependants"),
    "orphan": ("children", "dependants"),
    "orphans": ("children", "dependants"),
    "speak": ("talk",),
    "talk": ("agent",),
    "decide": ("assess",),
    "determine": ("decides", "assess"),
    "determines": ("decides", "assess"),
    "determined": ("decides", "assess"),
    "calculated": ("assess", "decides"),
    "calculate": ("assess", "decides"),
    "foni": ("phone",),
    "fone": ("phone",),
    "nambala": ("number",),
    "inambala": ("number",),
    "nomboro": ("number",),
    "decides": ("assess",),
    "decided": ("assess",),
    "mine": ("work",),
    "mines": ("work",),
    "factory": ("work",),
    "farm": ("work",),
    "job": ("work",),
    "workplace": ("work",),
    "penshoni": ("pension",),
    "bwana": ("employer",),
    "momo": ("mobile_money",),
    "cut": ("injury", "accident"),
    "cuts": ("injury", "accident"),
    "prove": ("proof",),
    # The words for the people and the cover that the articles say otherwise.
    "labourer": ("worker",),
    "labourers": ("workers",),
    "laborer": ("worker",),
    "laborers": ("workers",),
    "employee": ("worker",),
    "employees": ("workers",),
    "protected": ("covered",),
    "protect": ("covered",),
    "protects": ("covered",),
    "insured": ("covered",),
    "scheme": ("compensation",),
    "fill": ("form", "report"),
    "permission": ("approval",),
    "permit": ("approval",),
    "authorisation": ("approval",),
    "authorization": ("approval",),
    "proof": ("prove",),
    "biggest": ("largest",),
    "largest": ("biggest",),
}

# Towns: a question naming one is nearly always about a branch there.
for _town in _TOWNS.split("|"):
    _SYNONYMS.setdefault(_town, ("branch",))

# SMS-speak and short forms, rewritten in questions (never in articles) before
# stop words are dropped: "hw mch is d funeral grant" reads as the long form.
_SMS: dict[str, str] = {
    "b4": "before",
    "bfr": "before",
    "hw": "how",
    "wat": "what",
    "wht": "what",
    "wot": "what",
    "wats": "what",
    "ws": "was",
    "nw": "now",
    "d": "the",
    "da": "the",
    "dis": "this",
    "dat": "that",
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "wen": "when",
    "whn": "when",
    "wer": "where",
    "whr": "where",
    "mch": "much",
    "abt": "about",
    "cud": "could",
    "shud": "should",
    "wud": "would",
    "nid": "need",
    "ppl": "people",
    "pple": "people",
    "govt": "government",
    "gvt": "government",
    "coy": "company",
    "co": "company",
    "biz": "business",
    "wrk": "work",
    "wrkr": "worker",
    "wrkrs": "workers",
    "info": "information",
    "docs": "documents",
    "dox": "documents",
    "doc": "document",
    "reg": "register",
    "regd": "registered",
    "wit": "with",
    "wth": "with",
    "frm": "from",
    "gt": "get",
    "hv": "have",
    "knw": "know",
    "nt": "not",
    "amt": "amount",
    "mnth": "month",
    "mth": "month",
    "mnths": "months",
    "yrs": "years",
    "yrly": "yearly",
    "nxt": "next",
    "pymt": "payment",
    "pmt": "payment",
    "pmnt": "payment",
    "max": "maximum",
    "cert": "certificate",
    "certs": "certificates",
    "hosp": "hospital",
    "accdnt": "accident",
    "dept": "department",
    "emp": "employer",
    "empr": "employer",
    "bcoz": "because",
    "coz": "because",
    "cz": "because",
    "thx": "thanks",
    "tnx": "thanks",
    "pnsn": "pension",
    "pensn": "pension",
    "cmpny": "company",
    "cmpnsation": "compensation",
    "compo": "compensation",
    "regstr": "register",
    "2day": "today",
    "2moro": "tomorrow",
}
# Digits and short forms whose meaning depends on the next word: "how 2 register"
# (to), "4 assessments" (for), "per yr" (year) against "yr pension" (your).
_UNIT_WORDS = frozenset("days day weeks week months month years year percent kwacha million".split())
# Words a final 2 or 4 numbers ("section 4"), where it is no SMS "to"/"for".
_NUMBERED = frozenset("section sections form no number digit digits page article schedule".split())
_YEAR_BEFORE = frozenset("per a each every this last next the one".split())

# Bemba and Nyanja content words, and word roots (for the many prefixed and
# suffixed forms), read as the English word the articles use.
_LOCAL_WORDS: dict[str, str] = {
    "nshiku": "days",
    "ubushiku": "day",
    "masiku": "days",
    "tsiku": "day",
    "umweshi": "month",
    "mweshi": "month",
    "mwezi": "month",
    "umwaka": "year",
    "mwaka": "year",
    "chaka": "year",
    "caka": "year",
    "umulume": "husband",
    "mwamuna": "husband",
    "amuna": "husband",
    "umukashi": "wife",
    "mkazi": "wife",
    "akazi": "wife",
    "abana": "children",
    "bana": "children",
    "mwana": "child",
    "fomu": "form",
    "boma": "government",
    "apolisi": "police",
    "bapolisi": "police",
    "kapokola": "police",
    "asilikali": "army",
    "abashilika": "army",
    "panshi": "minimum",
    "pansi": "minimum",
    "dokotala": "doctor",
    "dotolo": "doctor",
    "ngozi": "accident",
    "kampani": "company",
    "kambani": "company",
    "bizinesi": "business",
    "ofesi": "branch",
    "maofesi": "branch",
    "amaofesi": "branch",
    "nthambi": "branch",
    "maliro": "funeral",
    "ishilyo": "funeral",
    "afwa": "died",
    "wafwa": "died",
    "afwile": "died",
    "alifwile": "died",
    "anafa": "died",
    "wafa": "died",
    "imfwa": "death",
    "imfa": "death",
    "ulemu": "disability",
    "ndalama": "money",
    "indalama": "money",
    "impiya": "money",
    "malipiro": "payment",
    "ukulipila": "pay",
    "mankhwala": "treatment",
    "banja": "family",
    "ulupwa": "family",
    "imitengo": "prices",
    "mitengo": "prices",
    "umuti": "treatment",
    "ntchito": "work",
    "ncito": "work",
    "incito": "work",
    "imilimo": "work",
    "mulimo": "work",
    "kumulimo": "work",
    "antchito": "workers",
    "bakabomba": "workers",
    "kabomba": "worker",
    "mbuya": "employer",
    "bwana": "employer",
    "abakalamba": "employer",
    # Language names in the languages themselves.
    "cibemba": "bemba",
    "icibemba": "bemba",
    "chibemba": "bemba",
    "chinyanja": "nyanja",
    "cinyanja": "nyanja",
    "citonga": "tonga",
    "chitonga": "tonga",
    "silozi": "lozi",
    "cisungu": "english",
    "chisungu": "english",
    "chingerezi": "english",
    "ifunde": "law",
    "amafunde": "law",
    "lamulo": "law",
    "malamulo": "law",
    "famili": "family",
    "mafamili": "family",
    "umubomfi": "worker",
    "abomfi": "workers",
    "ababomfi": "workers",
    "wogwira": "worker",
    "ubulema": "disability",
    "bulema": "disability",
    "ulema": "disability",
}
_LOCAL_ROOTS: tuple[tuple[str, str], ...] = (
    ("lembets", "register"),
    ("lembesh", "register"),
    ("lembes", "register"),
    ("lipil", "pay"),
    ("lipir", "pay"),
    ("lipidw", "pay"),
    ("mwalir", "died"),
    ("fwile", "died"),
    ("afwa", "died"),
    ("anafa", "died"),
    ("vulal", "injured"),
    ("vulaz", "injured"),
    ("cenen", "injured"),
    ("cenwa", "injured"),
    ("komenw", "injured"),
    ("pweteka", "injured"),
    ("dziwits", "report"),
    ("ishibish", "report"),
    ("landa", "report"),
    ("pepala", "documents"),
    ("kalata", "documents"),
    ("patala", "hospital"),
    ("ntchito", "work"),
    ("ncito", "work"),
    ("lemal", "disability"),
    ("lemene", "disability"),
    ("penshon", "pension"),
    ("penshen", "pension"),
    ("ndalama", "money"),
    ("landir", "receive"),
    ("anina", "increase"),
    ("kwera", "increase"),
    ("onjez", "increase"),
    ("pokele", "receive"),
    ("pima", "assess"),
    ("mayesa", "assess"),
    ("tendek", "start"),
    ("yambira", "start"),
    ("ayesedw", "assess"),
)

_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "ten": "10",
    "fourteen": "14",
    "twenty": "20",
    "thirty": "30",
}

_TAG_RE = re.compile(r"<[^>]+>")
_BLOCK_RE = re.compile(r"(?i)</p\s*>|<br\s*/?>|</li\s*>|</h\d\s*>|</div\s*>")
_TOKEN_RE = re.compile(r"[a-z0-9_]+")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


def strip_html(text: str) -> str:
    """Plain text of a Text Editor body: block tags become paragraph breaks."""
    text = _BLOCK_RE.sub("\n\n", text or "")
    text = html.unescape(_TAG_RE.sub(" ", text))
    paras = [re.sub(r"[ \t\r\f\v]+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p)


def _prepare(text: str) -> str:
    t = (text or "").lower().replace("\u2019", "'")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 25,000 -> 25000
    t = re.sub(r"\b(?:k|zmw|zk)\s?(?=\d)", " kwacha ", t)  # K400, ZMW 14400 -> kwacha 400
    t = re.sub(r"\bzmw\b", "kwacha", t)
    t = re.sub(r"(?<![\d/+])0(\d{2})\b", r"\1", t)  # network prefix 096 -> 96
    t = t.replace("%", " percent ").replace("'s", "")
    # Every article is about the Board: its name is no more a topic than "board".
    t = re.sub(r"\bwcfcb\b", "board", t)
    for phrase, repl in _PHRASES:
        t = t.replace(phrase, repl)
    for pattern, repl in _PATTERNS:
        t = pattern.sub(repl, t)
    return t


@functools.lru_cache(maxsize=50000)
def stem(word: str) -> str:
    """A small English stemmer: strip common suffixes, then truncate to 6
    characters (truncation stemming keeps register/registration/registered,
    employer/employers together without a full Porter implementation)."""
    if word.isdigit() or "_" in word or len(word) <= 3:
        return word
    for suffix, repl, min_len in (
        ("ational", "", 9),
        ("ations", "", 8),
        ("ation", "", 7),
        ("ments", "", 8),
        ("ment", "", 7),
        ("ies", "y", 5),
        ("ied", "y", 5),
        ("ing", "", 6),
        ("ly", "", 6),
        ("ed", "", 5),
        ("es", "e", 5),
        ("s", "", 4),
    ):
        if (
            word.endswith(suffix)
            and len(word) >= min_len
            and not word.endswith(("ss", "us", "is", "ily"))  # family, not "fami"
        ):
            word = word[: len(word) - len(suffix)] + repl
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word[:6]


def _long_forms(text: str) -> str:
    """A question with its SMS-speak written out ("hw mch is d grant 4 ma wife"
    -> "how much is the grant for ma wife"), so that phrases and patterns see
    the long form too."""
    tokens = re.split(r"([a-z0-9]+)", text.lower())
    words = tokens[1::2]
    for k, w in enumerate(words):
        before = words[k - 1] if k else ""
        after = words[k + 1] if k + 1 < len(words) else ""
        if w in ("2", "4") and after.isalpha() and after not in _UNIT_WORDS:
            words[k] = "to" if w == "2" else "for"
        elif w in ("2", "4") and not after and before and before not in _NUMBERED:
            words[k] = "to" if w == "2" else "for"  # "wat is form 6 4", "who do i talk 2"
        elif w == "yr":
            words[k] = "year" if before in _YEAR_BEFORE else "your"
        elif w == "min":
            words[k] = "minutes" if before.isdigit() else "minimum"
        elif w in _SMS and not (len(w) == 1 and tokens[2 * k].endswith(("'", "\u2019"))):
            words[k] = _SMS[w]  # (not the "d" of "I'd")
    tokens[1::2] = words
    return "".join(tokens)


# Bemba/Nyanja phrasings of "what does the Board do" (questions only).
_LOCAL_PATTERNS = (
    (re.compile(r"\b\w*gwira\s+ntchito\s+(yanji|yotani|chiyani)\b", re.I), " role "),
    (re.compile(r"\b\w*bomba\s+i?ncito\s+(nshi|inshi|shani|iyi)\b", re.I), " role "),
    (re.compile(r"\b\w*cita\s+(finshi|cinshi|nshi)\b", re.I), " role "),
    # "all at once": nthawi imodzi, kamodzi (Nyanja), umuku umo (Bemba)
    (
        re.compile(r"\b(nthawi\s+imodzi|kamodzi\s+kokha|pa\s+nthawi\s+imodzi|umuku\s+umo)\b", re.I),
        " lump_sum commute ",
    ),
)


def _words(text: str, query: bool = False) -> list[str]:
    """Normalised words of a text, stop words dropped. A question (``query``)
    also has its SMS-speak and Bemba/Nyanja content words read as English."""
    if query:
        text = _long_forms(text)
        for pattern, repl in _LOCAL_PATTERNS:
            text = pattern.sub(repl, text)
    words = []
    for w in _TOKEN_RE.findall(_prepare(text)):
        if query:
            w = _LOCAL_WORDS.get(w, w)
        w = _NUMBER_WORDS.get(w, w)
        if (
            w in _STOPWORDS
            or w in _LOCAL_STOPWORDS
            or (w.endswith("s") and w[:-1] in _STOPWORDS)
            or (len(w) == 1 and not w.isdigit())  # the "d" of "I'd", a stray letter
        ):
            continue
        words.append(w)
    return words


def _singular(word: str) -> str:
    """ "families" -> "family", "bosses" -> "boss", "wives" left alone: for the synonym map."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _is_local(query: str, language: str | None) -> bool:
    """Whether a question is written (partly) in Bemba or Nyanja: its words the
    index has never seen are then most likely grammar, not another topic."""
    if language and language != "en":
        return True
    return any(w in _LOCAL_STOPWORDS or w in _LOCAL_WORDS for w in _TOKEN_RE.findall(query.lower()))


def _local_root(word: str) -> str | None:
    """The English word for a Bemba/Nyanja word built on a known root ("ndilembetse")."""
    if len(word) < 5:
        return None
    for root, english in _LOCAL_ROOTS:
        if root in word:
            return english
    return None


def tokenize(text: str) -> list[str]:
    """Normalised, stemmed index terms of a text."""
    return [stem(w) for w in _words(text)]


@dataclass
class _Doc:
    article: str
    title: str
    text: str
    source: str
    slug: str
    language: str
    tf: Counter
    length: float
    header: frozenset[str]
    body: frozenset[str]
    position: int  # the passage's place in its article, from 0


@dataclass
class _Index:
    docs: list[_Doc]
    postings: dict[str, list[tuple[int, float]]]
    idf: dict[str, float]
    max_idf: float
    avgdl: float
    raw_vocab: dict[str, list[str]]  # surface words by length, for typo correction
    fuzzy_cache: dict[str, str | None] = field(default_factory=dict)
    # Ranked hits by (question, language): scoring is a pure function of the
    # index and the question, and the same questions come again and again
    # ("hello", "when are pensions paid") - a burst pays for each once.
    hits_cache: dict[tuple[str, str | None], list[_Hit]] = field(default_factory=dict)


HITS_CACHE_MAX = 4096  # questions kept per index (a bound: cleared when full)


def _split_passages(body: str) -> list[str]:
    """Paragraphs grouped into passages of a few sentences: short paragraphs are
    joined (a lone "please visit a branch" line would otherwise outrank the
    fact), long ones are cut at sentence ends."""
    pieces: list[str] = []
    for para in strip_html(body).split("\n\n"):
        if len(para) <= MAX_PASSAGE_CHARS:
            pieces.append(para)
            continue
        chunk = ""
        for sentence in _SENTENCE_RE.split(para):
            if chunk and len(chunk) + len(sentence) > MAX_PASSAGE_CHARS:
                pieces.append(chunk)
                chunk = ""
            chunk = f"{chunk} {sentence}".strip()
        if chunk:
            pieces.append(chunk)
    passages: list[str] = []
    for piece in pieces:
        if (
            passages
            and len(passages[-1]) < MIN_PASSAGE_CHARS
            and len(passages[-1]) + len(piece) <= MAX_PASSAGE_CHARS
        ):
            passages[-1] = f"{passages[-1]} {piece}"
        else:
            passages.append(piece)
    if len(passages) > 1 and len(passages[-1]) < MIN_PASSAGE_CHARS // 2:
        tail = passages.pop()
        passages[-1] = f"{passages[-1]} {tail}"
    return passages


def _boilerplate(rows: list[dict]) -> frozenset[str]:
    """Sentences repeated in many articles ("If you need more detail, please
    visit the nearest WCFCB branch."): shown, but not indexed, or their words
    would make every closing passage look like an answer."""
    seen: Counter = Counter()
    for row in rows:
        seen.update(
            {x.strip() for p in _split_passages(row.get("body") or "") for x in _SENTENCE_RE.split(p)}
        )
    return frozenset(x for x, n in seen.items() if n >= BOILERPLATE_MIN_ARTICLES)


def _fingerprint(store) -> tuple:
    count = store.count(DOCTYPE, {"published": 1})
    latest = store.list(DOCTYPE, {"published": 1}, fields=["modified"], order_by="modified desc", limit=1)
    return (count, str(latest[0]["modified"]) if latest else "")


def _build(store) -> _Index:
    if store is None:
        raise RuntimeError("no store: the knowledge base needs a runtime")
    started = time.perf_counter()
    rows = store.list(
        DOCTYPE,
        {"published": 1},
        fields=["name", "title", "slug", "keywords", "source", "body", "language"],
        order_by="name asc",
    )
    docs: list[_Doc] = []
    surface: set[str] = set()
    boilerplate = _boilerplate(rows)
    for row in rows:
        title = (row.get("title") or "").strip()
        title_words = _words(title)
        keyword_words = _words(row.get("keywords") or "")
        surface.update(title_words, keyword_words)
        header: Counter = Counter()
        for w in title_words:
            header[stem(w)] += TITLE_WEIGHT
        for w in keyword_words:
            header[stem(w)] += KEYWORD_WEIGHT
        for position, text in enumerate(_split_passages(row.get("body") or "")):
            words = _words(" ".join(x for x in _SENTENCE_RE.split(text) if x.strip() not in boilerplate))
            surface.update(words)
            tf = Counter({t: float(c) for t, c in Counter(stem(w) for w in words).items()})
            tf.update(header)
            docs.append(
                _Doc(
                    article=row["name"],
                    title=title,
                    text=text,
                    source=row.get("source") or "",
                    slug=row.get("slug") or row["name"],
                    language=row.get("language") or "en",
                    tf=tf,
                    length=sum(tf.values()),
                    header=frozenset(header),
                    body=frozenset(stem(w) for w in words),
                    position=position,
                )
            )
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, doc in enumerate(docs):
        for term, tf in doc.tf.items():
            postings[term].append((i, tf))
    n = len(docs)
    idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()}
    raw_vocab: dict[str, list[str]] = defaultdict(list)
    for w in surface:
        if len(w) >= 4 and not w.isdigit():
            raw_vocab[w[0]].append(w)
    index = _Index(
        docs=docs,
        postings=dict(postings),
        idf=idf,
        max_idf=math.log(1 + (n + 0.5) / 0.5),
        avgdl=(sum(d.length for d in docs) / n) if n else 1.0,
        raw_vocab=dict(raw_vocab),
    )
    log.info(
        "knowledge index built: %d articles, %d passages, %d terms in %.1f ms",
        len(rows),
        n,
        len(idf),
        (time.perf_counter() - started) * 1000,
    )
    return index


# One index per store (a Frappe process may serve several sites), rebuilt on
# an invalidate here or elsewhere, on a changed fingerprint, or after an hour.
_index_cache: VersionedCache[_Index] = VersionedCache(
    _build,
    version_key=VERSION_KEY,
    fingerprint=_fingerprint,
    ttl=INDEX_TTL_SECONDS,
    version_check=VERSION_CHECK_SECONDS,
    fingerprint_check=FINGERPRINT_CHECK_SECONDS,
)


def current_index() -> _Index:
    """The index for the current runtime's store, rebuilt when stale."""
    return _index_cache.get()


def invalidate() -> None:
    """Drop the index (an article was created, edited, unpublished or deleted).
    Other processes notice through the shared cache on their next query."""
    _index_cache.invalidate()


def _correct(index: _Index, word: str) -> str | None:
    """The closest indexed word to an unknown word (typos), or None; a clipped
    word ("rehab", "physio", "reimb") reads as the shortest indexed word it begins."""
    if word in index.fuzzy_cache:
        return index.fuzzy_cache[word]
    match = None
    if len(word) >= 5 and not word.isdigit():
        pool = [w for w in index.raw_vocab.get(word[0], ()) if abs(len(w) - len(word)) <= 2]
        found = difflib.get_close_matches(word, pool, n=1, cutoff=0.85)
        match = found[0] if found else None
        if match is None:
            longer = [
                w for w in index.raw_vocab.get(word[0], ()) if w.startswith(word) and len(w) > len(word)
            ]
            match = min(longer, key=lambda w: (len(w), w)) if longer else None
    if len(index.fuzzy_cache) < 10000:
        index.fuzzy_cache[word] = match
    return match


def _query_groups(index: _Index, query: str) -> list[list[tuple[str, float]]]:
    """One group of (term, weight) alternatives per query word."""
    groups: list[list[tuple[str, float]]] = []
    seen: set[str] = set()
    for word in _words(query, query=True):
        base = stem(word)
        if base not in index.idf and word not in _SYNONYMS:
            fixed = _correct(index, word) or _local_root(word)
            if fixed:
                word, base = fixed, stem(fixed)
        if base in seen:
            continue
        seen.add(base)
        group = [(base, 1.0)]
        for syn in _SYNONYMS.get(word) or _SYNONYMS.get(_singular(word), ()):
            for w in _words(syn):
                s = stem(w)
                if s != base and all(s != t for t, _ in group):
                    group.append((s, SYNONYM_WEIGHT))
        groups.append(group)
    return groups


@dataclass(frozen=True)
class _Hit:
    score: float  # coverage, 0..1
    doc: int
    topic_words: int  # query words found in the article's title or keywords
    evidence: float  # IDF of the query words the passage matches (not normalised)


def _score(index: _Index, query: str, language: str | None) -> list[_Hit]:
    """Every passage that matches a query word, best first.

    The score is *coverage*: each query word, weighted by its IDF, counts fully
    when it is in the article's title or keywords and partly when only in the
    passage text; a word we have never seen counts as missing at the highest
    weight. Passages are ranked on it, then on BM25. Coverage rather than raw
    BM25 keeps a question whose only matching word is incidental ("how *old*
    are you") from looking like a good answer."""
    groups = _query_groups(index, query)
    if not groups or not index.docs:
        return []
    allowed = None
    if language and language != "en":
        allowed = {language, "en"}
    unknown_weight = UNKNOWN_LOCAL_WORD_WEIGHT if _is_local(query, language) else UNKNOWN_WORD_WEIGHT
    denominator = 0.0
    bm25: dict[int, float] = defaultdict(float)
    covered: dict[int, float] = defaultdict(float)
    evidence: dict[int, float] = defaultdict(float)
    header_groups: dict[int, int] = defaultdict(int)
    for group in groups:
        known = [(t, w) for t, w in group if t in index.idf]
        if not known and group[0][0].isdigit():
            continue  # "a farm with 5 workers": a count, not a topic we lack
        if not known:
            denominator += index.max_idf * unknown_weight  # a word we cannot match at all
            continue
        denominator += max(index.idf[t] * w for t, w in known)
        best_bm25: dict[int, float] = {}
        best_cover: dict[int, float] = {}
        best_idf: dict[int, float] = {}
        in_header: set[int] = set()
        for term, weight in known:
            idf = index.idf[term]
            for i, tf in index.postings[term]:
                doc = index.docs[i]
                norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * doc.length / index.avgdl))
                best_bm25[i] = max(best_bm25.get(i, 0.0), weight * idf * norm)
                if term in doc.header:
                    place = 1.0 if term in doc.body else HEADER_ONLY_CREDIT
                    in_header.add(i)
                else:
                    place = BODY_CREDIT
                best_cover[i] = max(best_cover.get(i, 0.0), weight * idf * place)
                best_idf[i] = max(best_idf.get(i, 0.0), weight * idf)
        for i, v in best_bm25.items():
            bm25[i] += v
        for i, v in best_cover.items():
            covered[i] += v
        for i, v in best_idf.items():
            evidence[i] += v
        for i in in_header:
            header_groups[i] += 1
    if denominator <= 0:
        return []
    ranked = []
    for i, raw in bm25.items():
        if allowed is not None and index.docs[i].language not in allowed:
            continue
        # Ties go to the earlier passage: articles put their main fact first.
        tie = raw * (1 - POSITION_DISCOUNT * index.docs[i].position)
        ranked.append((min(1.0, covered[i] / denominator), tie, i))
    # Passages of one article with the same coverage stay together, the earlier
    # first: the article's best BM25 places the group, its position orders it.
    group_best: dict[tuple[str, float], float] = {}
    for cov, tie, i in ranked:
        key = (index.docs[i].article, round(cov, 4))
        group_best[key] = max(group_best.get(key, 0.0), tie)
    ranked.sort(
        key=lambda x: (
            -round(x[0], 4),
            -group_best[(index.docs[x[2]].article, round(x[0], 4))],
            index.docs[x[2]].article,
            index.docs[x[2]].position,
        )
    )
    return [_Hit(score, i, header_groups[i], evidence[i]) for score, _tie, i in ranked]


def _answers_well(hit: _Hit) -> bool:
    """The rule of :func:`best`: enough of the question matched, on its topic,
    with enough evidence (one common word such as "work" is not a question)."""
    if hit.evidence < MIN_EVIDENCE:
        return False
    if hit.score >= NO_ANSWER_THRESHOLD:
        return True
    if hit.score >= ONE_TOPIC_THRESHOLD and hit.topic_words >= 1:
        return True
    if hit.score >= MANY_TOPICS_THRESHOLD and hit.topic_words >= 3:
        return True
    return hit.score >= TOPIC_MATCH_THRESHOLD and hit.topic_words >= 2


@dataclass(frozen=True)
class Match:
    """The knowledge base's best passage for a question, and whether it answers it.

    ``answers_well`` is the knowledge base's own judgement (the rule of
    :func:`best`); ``score`` is the passage's coverage of the question (0..1);
    ``margin`` how far it is ahead of the best passage of another article (0
    when none) - a small margin means two articles fit about equally."""

    passage: Passage | None
    score: float
    answers_well: bool
    topic_words: int = 0
    margin: float = 0.0
    evidence: float = 0.0  # the IDF of the question's words the passage matches


NO_MATCH = Match(passage=None, score=0.0, answers_well=False)


def _passage(index: _Index, hit: _Hit) -> Passage:
    d = index.docs[hit.doc]
    return Passage(
        article=d.article, title=d.title, text=d.text, score=round(hit.score, 4), source=d.source, slug=d.slug
    )


def _hits(query: str, language: str | None) -> tuple[_Index | None, list[_Hit]]:
    if not (query or "").strip():
        return None, []
    try:
        index = current_index()
    except Exception:  # the knowledge base is a help, never a reason for the turn to fail
        log.exception("knowledge: index unavailable; answering without it")
        return None, []
    key = (query[:2000], language)
    hits = index.hits_cache.get(key)
    if hits is None:
        hits = _score(index, key[0], language)
        if len(index.hits_cache) >= HITS_CACHE_MAX:
            index.hits_cache.clear()
        index.hits_cache[key] = hits
    return index, list(hits)  # the hits are frozen; the list is the caller's


def search(query: str, language: str | None = None, top_k: int = 3) -> list[Passage]:
    """The ``top_k`` best passages for a question, best first, scores 0..1.

    ``language`` keeps passages in that language and in English (the starter
    knowledge base is English)."""
    if top_k <= 0:
        return []
    index, hits = _hits(query, language)
    return [_passage(index, h) for h in hits[:top_k]]


def match(query: str, language: str | None = None) -> Match:
    """The best passage for a question with the knowledge base's verdict on it.

    For the dialogue policy: ``answers_well`` says a passage answers the
    question (what :func:`best` uses); ``score`` and ``margin`` let a caller be
    stricter, e.g. before answering a message the classifier read as personal."""
    index, hits = _hits(query, language)
    if not hits:
        return NO_MATCH
    top = hits[0]
    first = index.docs[top.doc].article
    other = next((h.score for h in hits[1:] if index.docs[h.doc].article != first), 0.0)
    return Match(
        passage=_passage(index, top),
        score=round(top.score, 4),
        answers_well=_answers_well(top),
        topic_words=top.topic_words,
        margin=round(top.score - other, 4),
        evidence=round(top.evidence, 4),
    )


def best(query: str, language: str | None = None) -> Passage | None:
    """The best passage if it answers the question well enough, else None.

    Good enough (:attr:`Match.answers_well`): a score of at least
    NO_ANSWER_THRESHOLD, or at least TOPIC_MATCH_THRESHOLD when two or more of
    the question's words name the article's topic (title or keywords) - "how
    *quickly* should an *accident* be *reported*" is about reporting accidents
    even with a word we never saw - and in both cases the matched words weigh at
    least MIN_EVIDENCE (one everyday word such as "work" is not a question)."""
    found = match(query, language)
    return found.passage if found.answers_well else None
