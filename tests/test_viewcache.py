from wiki.web.viewcache import ViewCache


def test_entries_expire_and_the_cache_stays_within_its_budget():
    cache = ViewCache(size=3, ttl=60, max_chars=100)
    cache.put(("a", "h1"), "x" * 20)
    assert cache.get(("a", "h1")) == "x" * 20
    assert cache.get(("a", "h2")) is None  # another head: another entry
    for i in range(5):
        cache.put((str(i), "h"), "y" * 20)
    assert cache.get(("a", "h1")) is None  # evicted by count
    cache.put(("big", "h"), "z" * 90)  # over a quarter of the budget: not kept at all
    assert cache.get(("big", "h")) is None
    expired = ViewCache(ttl=-1)
    expired.put(("k",), "v")
    assert expired.get(("k",)) is None
