"""Language detection for Zambian messages: English, Bemba, Nyanja, Tonga, Lozi.

Offline and tiny: each language has a word list of greetings, function words
and the phrases people use with the Board, and a few stems (verb prefixes and
endings) that are typical of it. A message is scored per language; English is
the default, and a mixed message ("Bushe claim yandi ...") goes to the local
language with clear markers, because that is the language the person chose to
write in. Words shared between languages (Bemba and Tonga both say "ncito")
score lower than words only one language uses.
"""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = ("en", "bem", "nya", "toi", "loz")

# Words that mark a language clearly (weight 2) or only suggest it (weight 1).
_STRONG: dict[str, str] = {}
_WEAK: dict[str, set[str]] = {}

_LEXICON: dict[str, tuple[str, str]] = {
    # Bemba: greetings, thanks, question words, pronouns, common verbs and nouns.
    "bem": (
        """mwapoleni mwashibukeni mwaiseni mwachoma shani mulishani natotela twatotela shaleni shalenipo
        bushe ndefwaya tulefwaya ulefwaya alefwaya ukufwaya nshilapokelela nshilapoka ndalama shandi shesu
        yandi yesu fyandi fyesu lyandi kwi lilali cinshi finshi nshi ifyo ilyo nomba mukwai bane mwebantu
        ukulanda ukulipila ukulemba ukwalula ukucinja ukwishiba ukutendeka ukulembesha ukupoka napapata
        mpeleniko mpoosheni natumpwa tamulenjafwa amapepala amakalata ifipepala fyalifika yalifika
        nalicena nalilemene nalikomenwe alifwile umwaume umukashi abana umuntu abantu ningacita ningapoka
        ningalembesha ndeisanga ndeipoka mweshi uno lelo mailo imfula ilaloka sana bakabomba benu yenu
        ukukongola indalama tapali naumfwa nalembele bali ipokelela yapwa twalumbwa ba ne iyo ee awe
        inambala cinjeni uyu ubu ubo kuli pali ine iwe ifwe imwe shinga umuku napokelele fyashala
        fyashalamo ukupwililika""",
        """ni na no mu ku pa ya sha ba""",
    ),
    # Nyanja / Chewa.
    "nya": (
        """muli bwanji muribwanji mwadzuka mwaswera zikomo kwambiri tsalani bwino tionana ndapita moni
        kodi chonde nifuna ndifuna ndikufuna tikufuna akufuna ndalama zanga zathu yanga yathu wanga anga
        mwezi ntchito munthu anthu kulankhula ndiyankhule ndiyimbireni mkulu wanu ndapsa mtima palibe
        amene akundithandiza sindinalandire sinalandire landira mwalandira zatumizidwa idzalipidwa liti
        kuti pati bwanji ndingalembe ndingalembetse kulembetsa tilembetse kusintha sinthani ndasamukira
        ndinavulala ndinavulazidwa ndinapweteka anamwalira amuna akazi mkazi mwamuna ana mapepala zikalata
        chikalata fayilo chikusowa ndingapemphe chipukuta misozi makina mgodi ofesi maofesi amatsegula
        nthawi yanji nthambi imathandiza antchito mvula idzagwa lero ngongole ndiphunzitseni kuphika
        ndingazilandire tipereke tingalipire pang'ono kampani yathu bizinesi shopu tinatsegula yatsopano
        inde ayi pepani ndili ndine dzina langa amalipira mwandithandiza bambo amayi ndithu ndipo kapena
        sizinabwere penshoni ikuyenda yavomerezedwa mlandu wafika ngati malipiro zomaliza yomaliza zomwe
        zinali zingati chiyani zikusowa ndinalandira bwererani wothandiza kwa""",
        """ndi za wa la ya""",
    ),
    # Tonga (Zambia).
    "toi": (
        """mwabuka mwalibuka buti mwabonwa twalumba ndalumba kapati mwasyala kabotu ndiyanda tuyanda
        kwaambaula amuntu bantu mali aangu angu yangu wangu tiiza ooyu mwezi kumulimo mulimo ndakacisa
        kulemba kulembya kucinca nambala mwatambula mapepa sena kuli mbuti nduwe ndime ino inzya peepe
        ndilomba mukwesu kamubotu bana banyama maofesi aanu ilawa sunu mvula ncobeni nkaambo ndilili
        mukkale""",
        """a ku mu""",
    ),
    # Lozi.
    "loz": (
        """lumela lumelang zuhile cwani cwan itumezi hahulu siale hande zamae bata bulela mutu batu mali
        kai fitile fita kalisa kuzwafile musebezi mañolo manolo amuhezi ofisi mina kwa kacenu pula
        ndate eni batili niitumezi muzuhile haluna luna lubeta bo fiwa""",
        """ni u i a ka""",
    ),
}

for _lang, (_strong, _weak) in _LEXICON.items():
    for _w in _strong.split():
        # A word in two strong lists is only a hint for each.
        if _w in _STRONG and _STRONG[_w] != _lang:
            _WEAK.setdefault(_w, set()).update({_STRONG.pop(_w), _lang})
        elif _w not in _WEAK:
            _STRONG[_w] = _lang
        else:
            _WEAK[_w].add(_lang)
    for _w in _weak.split():
        _WEAK.setdefault(_w, set()).add(_lang)

# Stems: verb and noun prefixes typical of one language (checked on words the lists miss).
# Only prefixes: word endings such as -ile also end English words ("mobile", "file").
_STEMS: dict[str, re.Pattern[str]] = {
    "bem": re.compile(r"^(?:uku|ukw|nali|twali|ndefway|tulefway|ningac|ningal|ifi[a-z]{3})"),
    "nya": re.compile(r"^(?:ndina|sindi|ndiku|tiku|ndinga|tinga|zikala)|(?:idwa|edwa)$"),
    "toi": re.compile(r"^(?:ndaka|twaka|kwaam|ndiyand|tuyand)"),
    "loz": re.compile(r"^(?:ni bat|ku bul)|(?:hile|zwafile)$"),
}

# Common English words: a message made mostly of these stays English even with one weak hint.
_ENGLISH = set(
    """the a an and or of to in on at for is are was were be been am i you he she we they it my your our
    his her their me us them this that these those what when where why how which who can could will would
    should do does did have has had not no yes please thanks thank hello hi good morning afternoon evening
    claim pension payment money paid pay status office help want need with from by about still yet just
    ok okay bye is it there here work injury injured employer company documents document form""".split()
)

_WORD_RE = re.compile(r"[a-z']+")


def _words(text: str) -> list[str]:
    t = unicodedata.normalize("NFKD", (text or "").lower())
    t = "".join(c for c in t if not unicodedata.combining(c)).replace("'", "")
    return _WORD_RE.findall(t)


def scores(text: str) -> dict[str, float]:
    """Evidence per local language (0 when there is none); English is what remains."""
    result = {lang: 0.0 for lang in LANGUAGES if lang != "en"}
    for w in _words(text):
        if w in _ENGLISH:
            continue
        strong = _STRONG.get(w)
        if strong:
            result[strong] += 2.0
            continue
        weak = _WEAK.get(w)
        if weak:
            for lang in weak:
                result[lang] += 1.0 / len(weak) * 0.5
            continue
        for lang, stem in _STEMS.items():
            if len(w) >= 5 and stem.search(w):
                result[lang] += 1.0
    return result


def detect(text: str) -> str:
    """The language of ``text``: one of ``en``, ``bem``, ``nya``, ``toi``, ``loz`` (``en`` when unsure)."""
    found = scores(text)
    lang, best = max(found.items(), key=lambda kv: kv[1])
    # One clear marker (a strong word, or two hints) is enough: English words
    # around it are normal in Zambian messages ("Bushe claim yandi ...").
    if best < 2.0:
        return "en"
    return lang


def reads_as_english(text: str) -> bool:
    """Whether ``text`` reads as English: two or more common English words and no
    clear local marker. A message the local word lists miss ("Ndalama zomaliza
    zinali zingati?") is not English for that: it has no English words either."""
    # Not "a", nor a word a local language also uses ("no" is Bemba's "and").
    english = sum(
        1 for w in _words(text) if len(w) > 1 and w in _ENGLISH and w not in _STRONG and w not in _WEAK
    )
    return english >= 2 and max(scores(text).values()) < 2.0


def is_common_word(word: str) -> bool:
    """Whether ``word`` is an everyday word of the lists here: a Bemba, Nyanja,
    Tonga or Lozi word, or a common English one (``ndefwaya``, ``za``, ``claim``).
    Names are not in these lists, so a "name" made of such words is a request."""
    found = _words(word)
    return len(found) == 1 and (found[0] in _ENGLISH or found[0] in _STRONG or found[0] in _WEAK)


__all__ = ["LANGUAGES", "detect", "is_common_word", "reads_as_english", "scores"]
