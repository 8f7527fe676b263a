"""A WhatsApp conversation entirely in Nyanja with a verified person (issue 11,
part 6): greeting, verification, the next payment's date and amount, a payment
on hold. Every reply is in Nyanja: no English sentence, only proper nouns,
amounts, dates and the values the records hold (a hold reason, a document's
name) stay as they are.

"English" is told by the words only the English templates use: a word of an
English row (body or button) that no Bemba, Nyanja, Tonga or Lozi row uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant_crm.services.models import InboundMessage, Reply
from assistant_crm.services.pipeline import reply
from tests.fakes.corebusiness_stub import CLAIMS, PAYMENTS, PEOPLE
from tests.support import running_corebusiness
from tests.test_staff_console_api import AGENT, AGENT_PW, AGENT_USER, Staff, staff_accounts  # noqa: F401

FIXTURE = Path(__file__).resolve().parent.parent / "assistant_crm" / "fixtures" / "response_template.json"
MONTHS = "January February March April May June July August September October November December".split()
_WORD = re.compile(r"[A-Za-z']+")


def _words(text: str) -> set[str]:
    return {w.lower().strip("'") for w in _WORD.findall(text) if len(w.strip("'")) > 2}


def _english_only_words() -> set[str]:
    rows = json.loads(FIXTURE.read_text(encoding="utf-8"))
    english: set[str] = set()
    local: set[str] = set()
    for r in rows:
        words = _words(r["body"] + "\n" + (r.get("quick_replies") or ""))
        (english if r["language"] == "en" else local).update(words)
    return english - local


ENGLISH = _english_only_words()


def _record_values(person_id: str) -> list[str]:
    """What the records hold and a reply shows as it is (longest first)."""
    person = PEOPLE[person_id]
    values = [person["full_name"], *person["full_name"].split()]
    for claim in (c for c in CLAIMS.values() if c["person_id"] == person_id):
        values += [claim["employer_name"], claim["next_step"]]
        values += [h["note"] for h in claim["history"]]
        values += [d["document_type"] for d in claim["documents"]] + [d["note"] for d in claim["documents"]]
    values += [p["hold_reason"] or "" for p in PAYMENTS.get(person_id, [])]
    return sorted((v for v in values if v), key=len, reverse=True)


def english_in(text: str, person_id: str) -> set[str]:
    for value in _record_values(person_id):
        text = text.replace(value, " ")
    for month in MONTHS:
        text = text.replace(month, " ")
    return _words(text) & ENGLISH


def _payload(row: dict) -> dict:
    payload = row["payload"]
    return payload if isinstance(payload, dict) else json.loads(payload)


class NyanjaSpeaker:
    """A person writing in Nyanja on WhatsApp from the phone on their record."""

    def __init__(self, person_id: str):
        self.person_id = person_id
        self.person = PEOPLE[person_id]
        self.sender = self.person["phone"].lstrip("+")
        self.replies: list[Reply] = []

    def say(self, text: str) -> Reply:
        r = reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=self.sender))
        self.replies.append(r)
        assert not english_in(r.text, self.person_id), (r.text, english_in(r.text, self.person_id))
        for label in r.quick_replies:
            assert not english_in(label, self.person_id), (label, r.text)
        return r

    def say_english(self, text: str) -> Reply:
        r = reply.handle_message(InboundMessage(channel="whatsapp", text=text, sender_id=self.sender))
        self.replies.append(r)
        return r


@pytest.fixture
def corebusiness(rt) -> Iterator[object]:
    with running_corebusiness(rt, timeout_seconds=2) as stub:
        yield stub
        rt.queue.join(timeout=10)


def test_the_detector_sees_an_english_sentence():
    assert english_in("Your next payment is ZMW 12,500.00 lump sum, scheduled for 1 December 2026.", "S-1001")
    assert not english_in("Malipiro anu otsatira ndi ZMW 12,500.00, pa 1 December 2026.", "S-1001")


def test_next_payment_date_and_amount_all_in_nyanja(rt, corebusiness):
    person = NyanjaSpeaker("S-1001")
    hello = person.say("Moni, muli bwanji?")
    assert hello.intent == "greeting" and hello.metadata["language"] == "nya"
    asked = person.say("Ndalama zanga zidzabwera liti?")  # when will my money come?
    assert asked.metadata["source"] == "gate" and "NRC" in asked.text
    answer = person.say(f"{person.person['nrc']} {person.person['full_name']}")
    assert answer.metadata["source"] == "live" and answer.intent == "payment_inquiry"
    assert answer.text.startswith("Malipiro anu otsatira ndi ZMW 12,500.00")
    assert "1 December 2026" in answer.text
    assert (
        "ndalama za nthawi imodzi" in answer.text and "banki" in answer.text
    )  # the kind and method in Nyanja
    claim = person.say("Claim yanga")  # the button
    assert claim.metadata["source"] == "live" and "CLM-2026-10001" in claim.text


def test_a_payment_on_hold_all_in_nyanja(rt, corebusiness):
    person = NyanjaSpeaker("S-1002")
    person.say("Moni")
    person.say("Ndalama zanga zidzabwera liti?")
    answer = person.say(f"{person.person['nrc']} {person.person['full_name']}")
    assert answer.metadata["source"] == "live"
    assert "Sitingathe kukulipirani pakali pano" in answer.text
    assert "Zaimitsidwa: ZMW 7,777.00 ndalama za maliro" in answer.text
    assert "Death certificate rejected" in answer.text  # the record's own words, introduced in Nyanja
    bye = person.say("Zikomo kwambiri, tsalani bwino")
    assert bye.intent == "goodbye"


def test_hand_off_taken_and_closed_by_an_agent_all_in_nyanja(rt, corebusiness, server, staff_accounts):  # noqa: F811
    person = NyanjaSpeaker("S-1002")
    person.say("Moni")
    person.say("Ndalama zanga zidzabwera liti?")
    person.say(f"{person.person['nrc']} {person.person['full_name']}")
    handed = person.say("Ndipatseni munthu")  # the button
    assert handed.handoff
    session_id = handed.session_id
    agent = Staff(server, AGENT_USER, AGENT_PW)
    assert agent.post(AGENT + "take", session_id=session_id).status_code == 200
    assert agent.post(AGENT + "close", session_id=session_id).status_code == 200
    rt.queue.join(timeout=10)
    sent = [
        _payload(row)["text"]
        for row in rt.store.list(
            "Omnichannel Message", {"direction": "outbound", "platform": "whatsapp"}, order_by="creation asc"
        )
    ]
    assert "M'modzi wa ogwira ntchito ku WCFCB walowa m'macheza awa." in sent
    assert "Macheza awa atha. Zikomo polankhula ndi WCFCB." in sent
    for text in sent:
        assert not english_in(text, person.person_id), text


def test_a_nyanja_question_the_word_lists_miss_stays_in_nyanja(rt, corebusiness):
    """The detector says "en" when unsure: "Ndalama zomaliza ... zinali zingati?"
    (how much was the last money I received?) has no English word either, so the
    conversation stays in Nyanja, and the question asked (the last payment) is
    answered, not the list."""
    person = NyanjaSpeaker("S-1001")
    person.say("Moni, muli bwanji?")
    person.say("Ndalama zanga zidzabwera liti?")
    person.say(f"{person.person['nrc']} {person.person['full_name']}")
    last = person.say("Ndalama zomaliza zomwe ndinalandira zinali zingati?")
    assert last.metadata["language"] == "nya" and last.metadata["source"] == "live"
    assert last.text.startswith("Malipiro anu omaliza anali ZMW 1,250.00"), last.text
    missing = person.say("Ndi zikalata ziti zikusowa?")  # which documents are missing?
    assert missing.metadata["source"] == "live" and missing.intent == "document_status", missing.text
    refused = person.say("Chifukwa chiyani claim yanga inakanidwa?")  # why was my claim refused?
    assert refused.text.startswith("Palibe claim yanu yomwe inakanidwa"), refused.text
    # An English sentence does switch the conversation.
    english = person.say_english("how much was my last payment")
    assert english.metadata["language"] == "en" and english.text.startswith("Your last payment was")


def test_why_is_my_payment_on_hold_in_nyanja_names_the_reason(rt, corebusiness):
    person = NyanjaSpeaker("S-1002")
    person.say("Moni")
    person.say("Claim yanga ili kuti?")
    person.say(f"{person.person['nrc']} {person.person['full_name']}")
    held = person.say("Chifukwa chiyani malipiro anga aimitsidwa?")  # why is my payment on hold?
    assert held.metadata["source"] == "live"
    assert "Sitingathe kukulipirani pakali pano" in held.text and "Death certificate rejected" in held.text


def test_a_verified_bemba_speaker_asking_without_my_gets_their_records(rt, corebusiness):
    """ "Fipepala nshi fyashalamo?" (which documents remain?) from a verified person
    is about their claim, not the knowledge base's article on documents."""
    person = NyanjaSpeaker("S-1005")
    person.say("Mwapoleni mukwai")
    person.say("Bushe ndalama shandi shikesa lisa?")
    person.say(f"{person.person['nrc']} {person.person['full_name']}")
    missing = person.say("Fipepala nshi fyashalamo?")
    assert missing.metadata["language"] == "bem" and missing.metadata["source"] == "live", missing.text
    assert missing.text.startswith("Ifipepala ifi ficili filefwaikwa pa claim CLM-2026-50001")
    last = person.say("Ndalama shinga napokelele umuku wapwililikisho?")  # how much did I get last time?
    assert last.metadata["source"] == "live" and last.text.startswith("Nshilesanga ubulipilo"), last.text


def test_tonga_and_lozi_verification_stays_in_their_language(rt, corebusiness):
    """Tonga and Lozi have the verification rows: a question the word lists miss
    after a Tonga or Lozi greeting is asked for the NRC in that language."""
    tonga = NyanjaSpeaker("S-1003")
    assert tonga.say("Mwabuka buti").metadata["language"] == "toi"
    asked = tonga.say("Mali aangu aya kuboola lili?")  # when will my money come?
    assert asked.metadata["source"] == "gate" and asked.text.startswith("Kutegwa tukwabilile"), asked.text
    lozi = NyanjaSpeaker("S-1004")
    assert lozi.say("Mu zuhile cwani").metadata["language"] == "loz"
    asked = lozi.say("Mali a ka a taha lili?")
    assert asked.metadata["source"] == "gate" and asked.metadata["language"] == "loz", asked.text


def test_the_whatsapp_list_button_is_in_nyanja(rt, corebusiness):
    """Four choices go as a WhatsApp list behind one button; its title was always
    "Options". It is the conversation's language (label_options)."""
    from assistant_crm.services.delivery.channels.base import OutboundPart
    from assistant_crm.services.delivery.channels.whatsapp_send import WhatsAppSender

    person = NyanjaSpeaker("S-1003")
    hello = person.say("Moni, muli bwanji?")
    assert len(hello.quick_replies) == 4
    row = rt.store.get("Omnichannel Message", hello.metadata["outbox"])
    part = OutboundPart.from_payload(row["payload"])
    sent = WhatsAppSender("http://graph.invalid", "1", "token").body(part)
    button = sent["interactive"]["action"]["button"]
    assert sent["interactive"]["type"] == "list" and button == "Zosankha", sent
    assert not english_in(button, person.person_id)


@pytest.mark.parametrize(
    "question",
    [
        "Kodi ndidzalipidwa liti?",  # when will I be paid?
        "Kodi malipiro anga otsatira ndi angati?",  # how much is my next payment?
        "Ndidzalandira ndalama zingati?",  # how much money will I receive?
    ],
)
def test_the_next_payment_asked_in_other_nyanja_words(rt, corebusiness, question):
    person = NyanjaSpeaker("S-1001")
    person.say("Moni")
    person.say(question)
    answer = person.say(f"{person.person['nrc']} {person.person['full_name']}")
    assert answer.metadata["source"] == "live", answer.text
    assert answer.text.startswith("Malipiro anu otsatira ndi ZMW 12,500.00"), answer.text
