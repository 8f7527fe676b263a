"""Language detection: English, Bemba, Nyanja, Tonga, Lozi."""

from __future__ import annotations

import pytest

from assistant_crm.services.pipeline.language import LANGUAGES, detect, scores

SENTENCES = {
    "en": [
        "Hello, I would like to know about my claim",
        "When will my pension be paid?",
        "i got hurt at work last wk hw do i claim",
        "PENSION FOR MAY NOT RECEIVED",
        "Please call me back on 0977123456",
        "My husband died at the mine in Chingola",
        "I live in Chililabombwe and work at Konkola mine",
        "My name is Mwansa Chilufya, NRC 123456/78/1",
        "Mukuba Engineering in Kitwe reported my accident",
        "my mobile file was updated while I was in Chilanga",
        "Hi 👋",
        "",
    ],
    "bem": [
        "Mwapoleni mukwai",
        "Mwashibukeni bane",
        "Natotela sana",
        "Bushe pension yandi naitumwa?",
        "Ndefwaya ukulanda no muntu wa cine",
        "Ndalama shandi shilipi?",
        "Bushe mwapokelela amakalata yandi?",
        "Tulefwaya ukulembesha kampani yesu",
    ],
    "nya": [
        "Muli bwanji a bambo",
        "Zikomo kwambiri",
        "Kodi penshoni idzalipidwa liti?",
        "Ndikufuna kulankhula ndi munthu chonde",
        "Ndalama zanga sizinabwere mwezi uno",
        "Tsalani bwino",
        "Ndinavulala ku ntchito, ndipange bwanji?",
        "Kodi mwalandira zikalata zanga?",
    ],
    "toi": [
        "Mwabuka buti",
        "Twalumba kapati",
        "Ndiyanda kwaambaula amuntu",
        "Mwasyala kabotu",
        "Mali aangu ali kuli?",
        "Sena mwatambula mapepa angu?",
    ],
    "loz": [
        "Lumela ndate",
        "Ni itumezi hahulu",
        "Ni bata ku bulela ni mutu",
        "Mali a ka a kai?",
        "Mu siale hande",
        "U zuhile cwañi?",
    ],
}


@pytest.mark.parametrize(("expected", "text"), [(k, t) for k, ts in SENTENCES.items() for t in ts])
def test_detects_the_language(expected, text):
    assert detect(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English around local words: the local language is the one the person chose.
        ("Bushe claim yandi ili shani? I submitted it in March", "bem"),
        ("Kodi assessment ya kampani yathu ndi ndalama zingati?", "nya"),
        ("Good morning, ndefwaya ukwishiba pa pension", "bem"),
        ("Hello, zikomo for the help", "nya"),
        # A single shared or weak hint is not enough to leave English.
        ("I need to see a doctor na my employer", "en"),
        ("claim ya my brother", "en"),
    ],
)
def test_mixed_messages_go_to_the_language_with_clear_markers(text, expected):
    assert detect(text) == expected


def test_always_one_of_the_five_codes():
    for text in ["", "   ", "12345", "!!!", "😀😀", "ñandú über café", "a" * 5000]:
        assert detect(text) in LANGUAGES


def test_scores_show_the_evidence():
    s = scores("Bushe ndalama shandi shikesa lilali? Ndefwaya ukwishiba")
    assert set(s) == {"bem", "nya", "toi", "loz"}
    assert s["bem"] >= 8 and s["nya"] < s["bem"]
    assert scores("When is my pension paid?") == {"bem": 0.0, "nya": 0.0, "toi": 0.0, "loz": 0.0}
