#!/usr/bin/python3
"""A standard SOAP toolkit (python3-zeep) as an ES client of smbox: loads a GSMA WSDL, calls one
operation over mutual TLS with WS-Addressing and prints what it got back. Used by test_es_zeep.c."""
import argparse
import sys
import uuid

import requests
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wsdl", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--binding", required=True)
    ap.add_argument("--op", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--arg", action="append", default=[], help="Name=value body field")
    a = ap.parse_args()
    s = requests.Session()
    s.cert = (a.cert, a.key)
    s.verify = a.ca
    s.trust_env = False  # REQUESTS_CA_BUNDLE / proxies from the environment would override verify
    client = Client(a.wsdl, transport=Transport(session=s, timeout=20), plugins=[WsAddressingPlugin()],
                    settings=Settings(strict=True))
    svc = client.create_service(a.binding, a.url)
    kw = {"FunctionCallIdentifier": "zeep-" + uuid.uuid4().hex}
    for f in a.arg:
        k, v = f.split("=", 1)
        kw[k] = v
    hdr = client.get_element("{http://www.w3.org/2005/08/addressing}From")
    res = svc[a.op](**kw, _soapheaders=[hdr(Address="https://zeep.example/es")])
    if res is None:
        print("accepted")
        return 0
    if "body" in res:  # the binding declares output headers: zeep returns {header, body}
        hdrs = res["header"]
        res = res["body"]
        if hdrs is not None and "RelatesTo" in hdrs and hdrs["RelatesTo"] is not None:
            print("relates_to=%s" % hdrs["RelatesTo"]["_value_1"])
    st = res["FunctionExecutionStatus"]
    print("status=%s" % st["Status"])
    if st["StatusCodeData"] is not None:
        print("subject=%s reason=%s" % (st["StatusCodeData"]["Subject"], st["StatusCodeData"]["Reason"]))
    for k in res:
        if k not in ("FunctionExecutionStatus",) and res[k] is not None:
            v = res[k]
            if hasattr(v, "EumSignedInfo"):
                e = v["EumSignedInfo"]["Eid"]
                print("Eis.EumSignedInfo.Eid=%s" % (e.hex().upper() if isinstance(e, bytes) else e))
            else:
                print("%s=%s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
