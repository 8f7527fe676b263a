"""The Redis cache and the in-process cache pass one suite."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from assistant_crm.standalone.cache import MemoryCache, RedisCache
from tests.support import REDIS_URL, redis_available, unavailable


@pytest.fixture(params=["memory", "redis"])
def cache(request):
    if request.param == "memory":
        yield MemoryCache()
        return
    reason = redis_available()
    if reason:
        unavailable(reason)
    c = RedisCache(REDIS_URL, prefix=f"acrm_test|{uuid.uuid4().hex}|")
    yield c
    c.clear()


def test_set_get_delete(cache):
    assert cache.get("a") is None
    cache.set("a", {"x": [1, "ü"]})
    assert cache.get("a") == {"x": [1, "ü"]}
    cache.delete("a")
    assert cache.get("a") is None


def test_ttl_expires(cache):
    cache.set("t", 1, ttl=1)
    assert cache.get("t") == 1
    time.sleep(1.2)
    assert cache.get("t") is None


def test_incr_is_atomic_and_keeps_first_ttl(cache):
    def bump():
        for _ in range(50):
            cache.incr("n", ttl=30)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.incr("n", 0) == 200
    cache.incr("short", ttl=1)
    time.sleep(1.2)
    assert cache.incr("short", ttl=1) == 1


def test_add_only_when_absent(cache):
    assert cache.add("lock", "me", ttl=5) is True
    assert cache.add("lock", "you", ttl=5) is False
    assert cache.get("lock") == "me"


def test_release_lets_go_of_its_own_lock_and_takes_the_flag_down(cache):
    assert cache.add("lock", "mine", ttl=5)
    assert cache.release("lock", "mine", "lock:more") is False  # no flag raised
    assert cache.get("lock") is None  # let go
    assert cache.add("lock", "theirs", ttl=5)
    cache.set("lock:more", 1, ttl=5)
    assert cache.release("lock", "mine", "lock:more") is True  # flag was up ...
    assert cache.get("lock:more") is None  # ... and is down now
    assert cache.get("lock") == "theirs"  # another holder's lock is not ours to delete
    assert cache.release("lock", "theirs", "lock:more") is False
    assert cache.get("lock") is None


def test_values_are_copies(cache):
    v = {"list": [1]}
    cache.set("c", v)
    got = cache.get("c")
    got["list"].append(2)
    assert cache.get("c") == {"list": [1]}


def test_set_many_and_get_pair(cache):
    cache.set_many({"idx:a": "s1", "state:s1": {"n": 1, "l": [1, "ü"]}, "idx:b": "missing"}, ttl=60)
    assert cache.get("idx:a") == "s1"
    assert cache.get_pair("idx:a", "state:") == ("s1", {"n": 1, "l": [1, "ü"]})
    assert cache.get_pair("idx:b", "state:") == ("missing", None)  # index entry without a target
    assert cache.get_pair("idx:none", "state:") == (None, None)
    cache.set("idx:n", 5)
    assert cache.get_pair("idx:n", "state:") == (5, None)  # not a string: no second read
    cache.set("idx:e", "")
    assert cache.get_pair("idx:e", "state:") == ("", None)


def test_set_many_ttl_expires(cache):
    cache.set_many({"tm:a": 1, "tm:b": 2}, ttl=1)
    assert cache.get("tm:b") == 2
    time.sleep(1.2)
    assert cache.get("tm:a") is None and cache.get("tm:b") is None
