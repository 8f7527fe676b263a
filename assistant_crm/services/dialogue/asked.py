"""What a person asked about their own records, beyond the intent.

"when will I be paid?" and "show my payments" are both payment_inquiry; the
first wants the next payment's date (or why there is none), the second the
list. :func:`asked` names the question so :mod:`dialogue.answers` answers that
question, with one template per kind. English plus the common Bemba and Nyanja
words (and a few Tonga and Lozi ones); anything else is an ``OVERVIEW``.
"""

from __future__ import annotations

import re
from enum import Enum


class Asked(str, Enum):
    OVERVIEW = "overview"
    NEXT_PAYMENT = "next_payment"
    LAST_PAYMENT = "last_payment"
    WHY_REJECTED = "why_rejected"
    MISSING_DOCUMENTS = "missing_documents"


# Money the person receives ("pay" alone is what an employer does: "when do we pay").
# ... and being paid, in Nyanja ("ndidzalipidwa", "sindinalipidwe") and Bemba
# ("nkalipilwa", "balanlipila").
_MONEY = (
    r"(paid|payments?|money|pension|benefits?|compensation|grant|lump\s*sum|refund|funds|cash|"
    r"ndalama|indalama|impiya|mali|malipiro|amalipilo|penshoni|pension\w*|\w*lipidw\w*|\w*lipilw\w*|"
    r"\w*lipira|\w*nlipila|\w*lipilo)"
)
_WHY = (
    r"(why|reason|how\s+come|what\s+happened|mulandu|chifukwa|cinshi|chani|chiyani|nshi|nkaambo|nzi|"
    r"kabakalan\w*|kiñi|kini)"
)
# Refused: English, and the Bemba (-kaan-: "bayikaanile"), Nyanja (-kan-: "anakana",
# "yakanidwa"), Tonga (-kak-: "yakakakwa") and Lozi (-han-: "ihanilwe") verb forms.
_REJECTED = (
    r"(reject\w*|declin\w*|refus\w*|turned\s+down|not\s+approved|denied|unsuccessful|kana\w*|\w*kaan\w*|"
    r"\w*kanidw\w*|\w*akana|\w*kakakw\w*|\w*hanilw\w*)"
)

_WHY_REJECTED_RE = re.compile(
    rf"\b{_WHY}\b.*\b{_REJECTED}|\b{_REJECTED}.*\b{_WHY}\b|\brejection\b", re.IGNORECASE | re.DOTALL
)
_MISSING_RE = re.compile(
    r"\b(missing|outstanding|still\s+(need\w*|requir\w*|pending|owe)|what\s+else|remaining|left\s+to|"
    r"not\s+(yet\s+)?(received|submitted)|haven'?t\s+(sent|submitted|brought)|"
    r"ziperewera|zasowa|zikusowa|zotsala|zikufunikabe|ifyashala|fyashala|ifyaburako|ifilefwaikwa)",
    re.IGNORECASE,
)
# "last" in Nyanja ("zomaliza", "zotsiriza") and Bemba ("umuku wapwililikisha",
# "ubwa kulekelesha"); "I received" ("ndinalandira", "napokelele") asks about a
# payment made, not the next one.
_LAST_LOCAL = (
    r"(zomaliza|yomaliza|womaliza|zotsiriza|yotsiriza|\w*pwililik\w*|\w*kulekelesha|umuku\s+wapita|"
    r"ndinalandira|tinalandira|napokelele|napokelela|twapokelele)"
)
_LAST_RE = re.compile(
    rf"\b(last|latest|previous|most\s+recent|recent)\b.*\b{_MONEY}|\b{_MONEY}\b.*\b(last|latest|previous)\b|"
    r"\bwhen\s+was\s+(i|we|my)\b.*\b(paid|payment)|\bdid\s+(i|we)\s+(get|receive)\b|"
    rf"\b{_LAST_LOCAL}\b.*\b{_MONEY}|\b{_MONEY}\b.*\b{_LAST_LOCAL}\b",
    re.IGNORECASE,
)
_NEXT_RE = re.compile(
    r"\b(next|upcoming|when|due|yet|still\s+waiting|where\s+is|where'?s|not\s+(been\s+)?(paid|received)|"
    r"haven'?t\s+(been\s+)?(paid|received|got)|liti|lilali|lili|lisa|nthawi(?!\s+imodzi)|bwanji|ndilili|"
    # will (Nyanja -dza-, Bemba -ka-/-kesa) and not yet (Nyanja sindina-, Bemba nshila-)
    r"ndidza\w*|tidza\w*|zidza\w*|idza\w*|\w*kapokelela|\w*kalipilwa|\w*kesa|sindina\w*|nshila\w*|"
    r"\w*otsatira|\w*konkapo|"
    # on hold: the answer to "why is my payment on hold" is why none can be paid now
    r"on\s+hold|held|stopped|suspended|\w*imitsidw\w*|\w*imitsa)\b",
    re.IGNORECASE,
)
_MONEY_RE = re.compile(rf"\b{_MONEY}\b", re.IGNORECASE)
# Money an employer pays the Board ("when is our assessment due for payment?"):
# a question about the rules of assessments, never about a payment to the person.
_EMPLOYER_MONEY_RE = re.compile(r"\b(assessments?|contributions?|levy|premiums?|arrears|penalt\w*)\b", re.I)
_BENEFIT_RE = re.compile(
    r"\b(pension\w*|compensation|grant|lump\s*sum|benefits?|refund|ndalama|indalama|impiya|penshoni)\b", re.I
)


def asked(text: str) -> Asked:
    """The kind of question ``text`` asks about the person's records."""
    text = text or ""
    if _WHY_REJECTED_RE.search(text):
        return Asked.WHY_REJECTED
    if _MISSING_RE.search(text):
        return Asked.MISSING_DOCUMENTS
    if _EMPLOYER_MONEY_RE.search(text) and not _BENEFIT_RE.search(text):
        return Asked.OVERVIEW  # an employer's payment to the Board, not one to the person
    if _LAST_RE.search(text):
        return Asked.LAST_PAYMENT
    if _MONEY_RE.search(text) and _NEXT_RE.search(text):
        return Asked.NEXT_PAYMENT
    return Asked.OVERVIEW
