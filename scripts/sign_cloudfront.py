#!/usr/bin/env python3
"""Reference CloudFront signer built on botocore's CloudFrontSigner.

Used by the Rust interop test (tests/signed_botocore.rs) to check that our
verifier accepts what a real AWS SDK produces, and that our Signer produces the
same bytes. Prints one JSON object on stdout:

  canned_url, custom_url, policy_json,
  cookies        {CloudFront-Policy, CloudFront-Signature, CloudFront-Key-Pair-Id[, CloudFront-Hash-Algorithm]}
  canned_cookies {CloudFront-Expires, CloudFront-Signature, CloudFront-Key-Pair-Id[, ...]}

botocore itself always signs with SHA-1 semantics in mind and never adds
Hash-Algorithm; with --hash sha256 this script hashes with SHA-256 and appends
Hash-Algorithm=SHA256 / CloudFront-Hash-Algorithm=SHA256 the way the AWS docs
describe. EC P-256 keys sign with ECDSA (DER signatures).

Setup: source .ci/signer.sh (exports CLOUDFRONT_SIGNER_PYTHON)
"""

import argparse
import datetime
import json
import sys

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def make_signer(key_path, hash_name):
    with open(key_path, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    digest = hashes.SHA1() if hash_name == "sha1" else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda message: key.sign(message, PKCS1v15(), digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return lambda message: key.sign(message, ec.ECDSA(digest))
    raise SystemExit(f"unsupported key type: {type(key).__name__}")


def utc(epoch):
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True, help="PEM private key file (RSA or EC P-256)")
    ap.add_argument("--key-id", required=True)
    ap.add_argument("--url", required=True, help="URL to sign (no signing params)")
    ap.add_argument("--expires", required=True, type=int, help="DateLessThan, epoch seconds")
    ap.add_argument("--resource", help="custom policy Resource (default: --url)")
    ap.add_argument("--ip", help="custom policy IpAddress (CIDR or single IP)")
    ap.add_argument("--not-before", type=int, help="custom policy DateGreaterThan, epoch seconds")
    ap.add_argument("--hash", choices=["sha1", "sha256"], default="sha1")
    args = ap.parse_args()

    raw_sign = make_signer(args.key, args.hash)
    cf = CloudFrontSigner(args.key_id, raw_sign)
    extra = "&Hash-Algorithm=SHA256" if args.hash == "sha256" else ""
    b64 = cf._url_b64encode  # CloudFront's base64 variant, as botocore implements it

    canned_url = cf.generate_presigned_url(args.url, date_less_than=utc(args.expires)) + extra

    policy_json = cf.build_policy(
        args.resource or args.url,
        utc(args.expires),
        date_greater_than=utc(args.not_before) if args.not_before is not None else None,
        ip_address=args.ip,
    )
    custom_url = cf.generate_presigned_url(args.url, policy=policy_json) + extra
    policy_bytes = policy_json.encode("utf8")

    def cookie_set(first_name, first_value, signed_bytes):
        cookies = {
            first_name: first_value,
            "CloudFront-Signature": b64(raw_sign(signed_bytes)).decode("ascii"),
            "CloudFront-Key-Pair-Id": args.key_id,
        }
        if args.hash == "sha256":
            cookies["CloudFront-Hash-Algorithm"] = "SHA256"
        return cookies

    cookies = cookie_set("CloudFront-Policy", b64(policy_bytes).decode("ascii"), policy_bytes)
    canned_policy = cf.build_policy(args.url, utc(args.expires)).encode("utf8")
    canned_cookies = cookie_set("CloudFront-Expires", str(args.expires), canned_policy)

    json.dump(
        {
            "canned_url": canned_url,
            "custom_url": custom_url,
            "policy_json": policy_json,
            "cookies": cookies,
            "canned_cookies": canned_cookies,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
