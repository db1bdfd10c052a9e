"""Times the web console's list pages on one keypaird, as a browser would ask for them: signed in
once (a real session cookie), then each shape requested `--requests` times in turn, one request
at a time, each reply checked (200, and the rows it must hold). Prints one JSON object:
shape -> {"median_ms", "p99_ms", "rows"}. Used by bench/console/run.sh."""

import argparse
import json
import re
import statistics
import time

import requests


def sign_in(url, akid, secret):
    s = requests.Session()
    r = s.post(url + "/console/sign-in", data={"access_key_id": akid, "secret_access_key": secret},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303, (r.status_code, r.text[:200])
    return s


ROW = re.compile(r'<a class="key-name" href="[^"]*">([^<]*)</a>')
NEXT = re.compile(r'id="next-page" rel="next" href="([^"]*)"')


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--access-key-id", required=True)
    p.add_argument("--secret-access-key", required=True)
    p.add_argument("--prefix", required=True, help="the seed key pairs' name prefix")
    p.add_argument("--count", type=int, required=True, help="how many seed key pairs there are")
    p.add_argument("--requests", type=int, default=200)
    a = p.parse_args()
    s = sign_in(a.url, a.access_key_id, a.secret_access_key)
    base = a.url + "/console/ec2/key-pairs?region=us-east-1"
    # The middle of the list by name: the page after the seed key pair halfway.
    width = max(4, len(str(a.count - 1)))  # keypaird-load seed's names: seed-0000 …
    middle = f"{a.prefix}{a.count // 2:0{width}d}"
    first = s.get(base, timeout=30).text
    # A deep page: follow the first page's next link, then swap its cursor's name for the middle.
    m = NEXT.search(first)
    assert m, "no next page on the first page"
    link = m.group(1).replace("&amp;", "&")
    cursor = requests.utils.unquote(link.split("after=")[1])
    millis, rest = cursor.split(".", 1)
    kp_id, _name = rest.split(".", 1)
    deep_link = a.url + link.split("after=")[0] + "after=" + requests.utils.quote(f"{millis}.{kp_id}.{middle}")
    shapes = {
        "the first page, by name": (base, 50),
        # After the middle name: 50 rows, or the 49 after seed-0050 at 100.
        "a page in the middle, by name (keyset)": (deep_link, min(50, a.count - a.count // 2 - 1)),
        "the first page, newest first": (base + "&sort=newest", 50),
        "the first page, oldest first": (base + "&sort=oldest", 50),
        # 100 names match (seed-4999xx at 1,000,000; seed-00xx at 100): a page of 50.
        "name prefix search, by name": (base + f"&name={middle[:-2]}*", 50),
        "the detail page of one key pair": (None, None),
    }
    # The detail page: the first row's link.
    detail = re.search(r'<a class="key-name" href="([^"]*)"', first).group(1).replace("&amp;", "&")
    shapes["the detail page of one key pair"] = (a.url + detail, 0)
    out = {}
    for shape, (link, rows) in shapes.items():
        times = []
        got = None
        for _ in range(a.requests):
            t0 = time.perf_counter()
            r = s.get(link, timeout=60)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, (shape, r.status_code)
            got = len(ROW.findall(r.text))
            if rows is not None:
                assert got == rows, (shape, got, rows)
        times.sort()
        out[shape] = {"median_ms": round(statistics.median(times), 3),
                      "p99_ms": round(times[int(len(times) * 0.99) - 1], 3), "rows": got}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
