#!/usr/bin/env python3
"""TLS against plain HTTP on the gateway, on one pool.

Starts `ringserve up` (synthetic model) in a temp dir with --gateway-tls-cert/--gateway-tls-key
(a fresh self-signed P-256 certificate from the `openssl` CLI) and a second, plain
ringserve-gateway on the same broker and Redis. Then, alternating plain / TLS for --rounds
rounds, --streams concurrent streamed completions of --tokens tokens each (ignore_eos): the
aggregate completion tokens/s and the TTFT p50 of each; and `openssl s_time -new` against
the TLS port: full handshakes per wall second (client and server on this machine). JSON on
stdout (or --out), then one summary line. Stops everything it started.

  python3 bench/gateway/tls_compare.py --bin build/release/bin
"""
import argparse, http.client, json, os, shutil, signal, ssl, statistics, subprocess, sys, tempfile
import threading, time


def wait_for(path, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.2)
    sys.exit(f"tls_compare: {path} did not appear in {timeout_s} s")


def stream_one(port, tls_ctx, key, body, out):
    c = (http.client.HTTPSConnection("127.0.0.1", port, context=tls_ctx) if tls_ctx
         else http.client.HTTPConnection("127.0.0.1", port))
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body,
              {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    ttft, tokens = None, 0
    for line in c.getresponse():
        if line.startswith(b"data: {"):
            ttft = ttft if ttft is not None else time.perf_counter() - t0
            j = json.loads(line[6:])
            if j.get("usage"):
                tokens = j["usage"]["completion_tokens"]
    c.close()
    out.append((tokens, ttft))


def phase(port, tls_ctx, key, body, streams):
    out = []
    threads = [threading.Thread(target=stream_one, args=(port, tls_ctx, key, body, out))
               for _ in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(o[0] for o in out) / (time.perf_counter() - t0), [o[1] for o in out]


def handshakes_per_s(port, seconds):
    r = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time",
                        str(seconds)], capture_output=True, text=True, timeout=seconds + 30)
    for line in r.stdout.splitlines():  # "N connections in M real seconds, ..."
        if "real seconds" in line:
            n, _, _, m = line.split()[:4]
            return int(n) / float(m)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/bin")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--handshake-seconds", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    bin_dir = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="rs-tls-bench-")
    cert, key_file = os.path.join(work, "gw.crt"), os.path.join(work, "gw.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_file, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    var = os.path.join(work, "var")
    log = open(os.path.join(work, "up.log"), "w")
    up = subprocess.Popen([os.path.join(bin_dir, "ringserve"), "up", "--var", var,
                           "--gateway-tls-cert", cert, "--gateway-tls-key", key_file],
                          stdout=log, stderr=log, cwd=work)
    plain = None
    try:
        tls_port = int(wait_for(os.path.join(var, "http"), 120).rsplit(":", 1)[1])
        key = wait_for(os.path.join(var, "api-key"), 5)
        plain = subprocess.Popen([os.path.join(bin_dir, "ringserve-gateway"), "--broker",
                                  wait_for(os.path.join(var, "endpoint"), 5), "--redis",
                                  wait_for(os.path.join(var, "redis"), 5), "--port", "0"],
                                 stdout=subprocess.PIPE, stderr=log, text=True)
        line = plain.stdout.readline()
        while not line.startswith("http_url "):
            line = plain.stdout.readline()
        plain_port = int(line.strip().rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=cert)
        body = json.dumps({"model": "synth", "prompt": "Once upon a time", "stream": True,
                           "max_tokens": a.tokens, "ignore_eos": True,
                           "stream_options": {"include_usage": True}})
        tok_s, ttfts = {"plain": [], "tls": []}, {"plain": [], "tls": []}
        for _ in range(a.rounds):
            for name, port, c in (("plain", plain_port, None), ("tls", tls_port, ctx)):
                t, tt = phase(port, c, key, body, a.streams)
                tok_s[name].append(t)
                ttfts[name] += tt
        result = {n: {"tok_s_median": round(statistics.median(v)),
                      "tok_s_rounds": [round(x) for x in v],
                      "ttft_p50_ms": round(1000 * statistics.median(ttfts[n]), 1)}
                  for n, v in tok_s.items()}
        result.update({"streams": a.streams, "tokens": a.tokens, "rounds": a.rounds,
                       "tls_handshakes_per_s": handshakes_per_s(tls_port, a.handshake_seconds)})
    finally:
        if plain:
            plain.terminate()
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result)
    if a.out:
        open(a.out, "w").write(text + "\n")
    else:
        print(text)
    p, t = result["plain"], result["tls"]
    hs = result["tls_handshakes_per_s"]
    print(f"gateway TLS: plain {p['tok_s_median']} tok/s TTFT p50 {p['ttft_p50_ms']} ms, "
          f"TLS {t['tok_s_median']} tok/s TTFT p50 {t['ttft_p50_ms']} ms, "
          f"{hs:.0f} full handshakes/s" if hs else "handshakes: n/a")


if __name__ == "__main__":
    main()
