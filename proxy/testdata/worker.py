"""A worker that sends N GETs through the sluice proxy.

usage: worker.py MODE URL TOKEN N START_MS [THREADS]
MODE "base": URL is a base URL on the proxy, the token goes in Authorization (urllib).
MODE "proxy": URL is the provider's own URL, reached through HTTP_PROXY (requests).
Prints one line: ok=<2xx> other=<non-2xx> end_ms=<epoch ms after the last answer> codes=<sorted distinct>.
"""
import sys, time

import threading

mode, url, token, n, start_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
delay = start_ms / 1000 - time.time()
if delay > 0:
    time.sleep(delay)
ok = other = 0
codes = set()
lock = threading.Lock()
todo = iter(range(n))


def take():
    with lock:
        return next(todo, None)


def count(code):
    global ok, other
    with lock:
        codes.add(code)
        if code < 300:
            ok += 1
        else:
            other += 1


def run():
    if mode == "proxy":
        import requests  # reads HTTP_PROXY from the environment
        s = requests.Session()
        while (i := take()) is not None:
            count(s.get(f"{url}/items/{i}", timeout=60).status_code)
        return
    import urllib.request, urllib.error
    while (i := take()) is not None:
        req = urllib.request.Request(f"{url}/items/{i}", headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
                count(r.status)
        except urllib.error.HTTPError as e:
            count(e.code)


ts = [threading.Thread(target=run) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f"ok={ok} other={other} end_ms={int(time.time() * 1000)} codes={sorted(codes)}", flush=True)
