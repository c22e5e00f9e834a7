#!/usr/bin/python3
"""tf_client.py - a TF Serving REST client written the way TF Serving's REST
docs show (urllib instead of requests, which Debian's python3 lacks), used by
test_http_api.sh to check catdog's /v1/models/{name}:predict.

Usage: tf_client.py BASE_URL MODEL row|columnar PHOTO...
Prints the JSON answer's list of [p_dog] rows, one number a line.
"""
import base64
import json
import sys
import urllib.request


def main():
    base, model, fmt, photos = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    # The status and the signature first, as a TF Serving client would check them.
    with urllib.request.urlopen(f"{base}/v1/models/{model}") as r:
        status = json.load(r)
    assert status["model_version_status"][0]["state"] == "AVAILABLE", status
    with urllib.request.urlopen(f"{base}/v1/models/{model}/metadata") as r:
        meta = json.load(r)
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    input_name = next(iter(sig["inputs"]))
    instances = []
    for p in photos:
        with open(p, "rb") as f:
            instances.append({"b64": base64.b64encode(f.read()).decode("ascii")})
    if fmt == "row":
        body = {"signature_name": "serving_default", "instances": instances}
        key = "predictions"
    else:
        body = {"inputs": {input_name: instances}}
        key = "outputs"
    req = urllib.request.Request(f"{base}/v1/models/{model}:predict", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        answer = json.load(r)
    for row in answer[key]:
        print(repr(row[0]))


if __name__ == "__main__":
    main()
