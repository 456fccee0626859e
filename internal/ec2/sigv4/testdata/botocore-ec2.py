"""Writes the requests botocore signs for EC2, for sigv4's tests.

Run from this directory: python3 botocore-ec2.py. Nothing is sent: a before-send hook
captures each request and answers it. The clock is fixed at 2015-08-30T12:36:00Z.
"""
import datetime
import urllib.parse
from unittest import mock

import botocore
import botocore.session
from botocore.awsrequest import AWSResponse

FIXED = datetime.datetime(2015, 8, 30, 12, 36, 0)
ENDPOINT = "http://ec2.koala.test:8787"


def raw(request):
    """The request as it goes on the wire, as HTTP/1.1 text."""
    scheme_host, _, rest = request.url.partition("://")[2].partition("/")
    target = "/" + rest
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {scheme_host}"]
    for k, v in request.headers.items():
        if isinstance(v, bytes):
            v = v.decode()
        lines.append(f"{k}: {v}")
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if body and "Content-Length" not in request.headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def main():
    session = botocore.session.get_session()
    session.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    client = session.create_client("ec2", region_name="koala-1", endpoint_url=ENDPOINT)
    captured = []

    def capture(request, **kwargs):
        captured.append(raw(request))
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send.ec2.*", capture)
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED):
        try:
            client.describe_instances(
                Filters=[{"Name": "tag:Name", "Values": ["web server*"]}], MaxResults=5)
        except Exception:
            pass  # the empty answer does not parse; the request is what matters
        # generate_presigned_url signs for the model's method (POST for EC2) unless told.
        url = client.generate_presigned_url(
            "describe_instances", Params={"InstanceIds": ["i-0123456789abcdef0"]},
            ExpiresIn=900, HttpMethod="GET")
        try:
            # botocore presigns CopySnapshot's PresignedUrl (a GET to the source region).
            client.copy_snapshot(SourceRegion="koala-1", SourceSnapshotId="snap-0123456789abcdef0")
        except Exception:
            pass

    with open("botocore-ec2-describe-instances.txt", "wb") as f:
        f.write(captured[0])
    host, _, rest = url.partition("://")[2].partition("/")
    with open("botocore-ec2-presigned-describe-instances.txt", "wb") as f:
        f.write(f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    body = captured[1].split(b"\r\n\r\n", 1)[1].decode()
    presigned_url = urllib.parse.parse_qs(body)["PresignedUrl"][0]
    host, _, rest = presigned_url.partition("://")[2].partition("/")
    with open("botocore-ec2-copy-snapshot-presigned-url.txt", "wb") as f:
        f.write(f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    print("botocore", botocore.__version__)


if __name__ == "__main__":
    main()
