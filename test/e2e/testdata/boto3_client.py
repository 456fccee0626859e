#!/usr/bin/env python3
"""Drives the Koala local stack with boto3 as a Python user would.

The Go test TestBoto3... runs it with the settings of .koala/env in its environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). It launches instances, waits with boto3's
waiters, pages with a paginator, checks ClientToken idempotency and key pairs, and
asserts the fields a client reads. It prints "boto3 checks passed" and exits 0 when
every check holds; a failed check raises (exit status 1, with a traceback).

    python3 boto3_client.py --prefix e2e-1234 [--retry-mode standard]
"""

import argparse
import base64
import datetime
import hashlib
import os
import re
import sys

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT_ID = "123456789012"
IMAGE_NAME = "ubuntu-24.04-server-amd64"
# Public keys only (their private halves were thrown away): what a user imports.
RSA_PUBLIC = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQClEUCIoUDvi/C4IkMJWYMtmzpY31gTVfC0O5HhZ6o+ebSx0KQz9hZqztILoBZh9mfmBZNcTnIhvAcSfJBADey0LjCpUM0jLGYAwJ3gwTqdva4nO47kU4qa2HqNnkKDgGIpUH5s+3Roj5YJacwexII+B7OB1IbpMlot43Nqn6lYRNPbQcDkEr+BXTEgKEYs9Btw0YpAVEVTiFtYBlQMOsQIoVmbrsSzEz0DaogZcUnE6PjFN2JJ+q697r+Pp4aC2kb9WV219df8RijY7iDCDzTocrGLOajO3hjYzKIsFpTg9bJgyJzIuFcc+1dYx/MExy30IPqzhUtrNhCAeaP80BBT e2e-rsa"
)
# ssh-keygen -E md5 -lf: the RFC 4716 fingerprint EC2 shows for an imported RSA key.
RSA_PUBLIC_MD5 = "ea:5d:5f:94:89:47:7d:a1:ef:11:c5:83:78:9a:46:af"
ED25519_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP5lTg3Kx6bn0VBQS2xCx9KV8alkCZ0fjh3w/zD1tSaD e2e-ed25519"
# ssh-keygen -lf: SHA256:isC7CLGHzT9vIG/b+bEdgPV3Wx54CSmGaNrpw0kEXnA
ED25519_PUBLIC_SHA256 = "isC7CLGHzT9vIG/b+bEdgPV3Wx54CSmGaNrpw0kEXnA"

# Waiters poll every second instead of every 15 s: what they accept is the same.
FAST = {"Delay": 1, "MaxAttempts": 120}


def check(cond, what, *got):
    if not cond:
        raise AssertionError(what + ("" if not got else ": got " + " ".join(repr(g) for g in got)))


def error_code(call, *args, **kwargs):
    """Runs a call that must fail and returns its EC2 error code and HTTP status."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} succeeded, want an error")


def instances_of(reservations):
    return [i for r in reservations for i in r["Instances"]]


def check_key_pairs(ec2, prefix):
    created = f"{prefix}-created"
    k = ec2.create_key_pair(KeyName=created)
    check(k["KeyName"] == created, "create_key_pair KeyName", k["KeyName"])
    check(re.fullmatch(r"key-[0-9a-f]{17}", k["KeyPairId"]), "create_key_pair KeyPairId", k["KeyPairId"])
    check(k["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----"), "create_key_pair KeyMaterial is a PEM RSA key", k["KeyMaterial"][:40])
    check(re.fullmatch(r"([0-9a-f]{2}:){19}[0-9a-f]{2}", k["KeyFingerprint"]), "created RSA key's fingerprint is SHA-1 hex", k["KeyFingerprint"])
    check(error_code(ec2.create_key_pair, KeyName=created) == ("InvalidKeyPair.Duplicate", 400), "create_key_pair of an existing name")

    imported = ec2.import_key_pair(KeyName=f"{prefix}-rsa", PublicKeyMaterial=RSA_PUBLIC.encode())
    check(imported["KeyFingerprint"] == RSA_PUBLIC_MD5, "imported RSA key's fingerprint (MD5, RFC 4716)", imported["KeyFingerprint"])
    check(re.fullmatch(r"key-[0-9a-f]{17}", imported["KeyPairId"]), "import_key_pair KeyPairId", imported["KeyPairId"])
    ed = ec2.import_key_pair(KeyName=f"{prefix}-ed25519", PublicKeyMaterial=ED25519_PUBLIC.encode())
    check(ed["KeyFingerprint"].rstrip("=") == ED25519_PUBLIC_SHA256, "imported Ed25519 key's fingerprint (SHA-256)", ed["KeyFingerprint"])

    names = [created, f"{prefix}-rsa", f"{prefix}-ed25519"]
    pairs = {p["KeyName"]: p for p in ec2.describe_key_pairs(KeyNames=names, IncludePublicKey=True)["KeyPairs"]}
    check(sorted(pairs) == sorted(names), "describe_key_pairs by name", sorted(pairs))
    check(pairs[created]["KeyType"] == "rsa" and pairs[f"{prefix}-ed25519"]["KeyType"] == "ed25519", "KeyType", pairs)
    check(pairs[f"{prefix}-rsa"]["PublicKey"].split()[:2] == RSA_PUBLIC.split()[:2], "imported PublicKey", pairs[f"{prefix}-rsa"]["PublicKey"])
    for p in pairs.values():
        check(isinstance(p.get("CreateTime"), datetime.datetime), "CreateTime", p)
    try:
        from cryptography.hazmat.primitives import hashes, serialization
    except ImportError:
        print("cryptography is not installed: not checking the created key's material")
    else:
        private = serialization.load_pem_private_key(k["KeyMaterial"].encode(), password=None)
        public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        check(pairs[created]["PublicKey"].split()[:2] == public.split()[:2], "the created key's PublicKey belongs to its KeyMaterial")
        pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        sha1 = ":".join(f"{b:02x}" for b in hashlib.sha1(pkcs8).digest())
        check(k["KeyFingerprint"] == sha1, "created RSA key's fingerprint is the SHA-1 of its PKCS#8 DER", k["KeyFingerprint"], sha1)

    filtered = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"{prefix}-*"]}])["KeyPairs"]
    check(sorted(p["KeyName"] for p in filtered) == sorted(names), "describe_key_pairs key-name filter", filtered)
    ec2.delete_key_pair(KeyName=f"{prefix}-rsa")
    ec2.delete_key_pair(KeyName=f"{prefix}-ed25519")
    check(error_code(ec2.describe_key_pairs, KeyNames=[f"{prefix}-rsa"]) == ("InvalidKeyPair.NotFound", 400), "describe_key_pairs of a deleted key")
    # EC2 answers a delete of a key pair that does not exist with success.
    ec2.delete_key_pair(KeyName=f"{prefix}-rsa")
    return created


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True, help="names and tags of this run start with it")
    parser.add_argument("--retry-mode", default="legacy", choices=["legacy", "standard", "adaptive"])
    args = parser.parse_args()
    prefix = args.prefix

    ec2 = boto3.client("ec2", config=Config(retries={"mode": args.retry_mode, "max_attempts": 5}))
    check(ec2.meta.endpoint_url.rstrip("/") == os.environ["AWS_ENDPOINT_URL"].rstrip("/"),
          "boto3 uses AWS_ENDPOINT_URL", ec2.meta.endpoint_url)
    check(ec2.meta.region_name == os.environ["AWS_DEFAULT_REGION"], "boto3 uses AWS_DEFAULT_REGION", ec2.meta.region_name)

    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    check(zones, "describe_availability_zones lists zones")
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [IMAGE_NAME]}])["Images"]
    check(len(images) == 1 and images[0]["State"] == "available", "the shipped image is available", images)
    image = images[0]

    key = check_key_pairs(ec2, prefix)

    token = f"{prefix}-token"
    run = dict(ImageId=image["ImageId"], InstanceType="t3.micro", MinCount=2, MaxCount=2, KeyName=key, ClientToken=token,
               TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "run", "Value": prefix}]}])
    first = ec2.run_instances(**run)
    check(len(first["Instances"]) == 2 and first["OwnerId"] == ACCOUNT_ID, "run_instances MinCount=MaxCount=2", first)
    check(all(i["State"] == {"Code": 0, "Name": "pending"} for i in first["Instances"]), "launched instances are pending",
          [i["State"] for i in first["Instances"]])
    again = ec2.run_instances(**run)
    check(again["ReservationId"] == first["ReservationId"] and
          sorted(i["InstanceId"] for i in again["Instances"]) == sorted(i["InstanceId"] for i in first["Instances"]),
          "run_instances with the same ClientToken returns the first launch", again["ReservationId"], first["ReservationId"])
    check(error_code(ec2.run_instances, **dict(run, InstanceType="t3.small")) == ("IdempotentParameterMismatch", 400),
          "the same ClientToken with other parameters")

    ids = [i["InstanceId"] for i in first["Instances"]]
    # Six more launches of one: seven reservations, eight instances, more than a page of five.
    for n in range(6):
        r = ec2.run_instances(ImageId=image["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "run", "Value": prefix}, {"Key": "n", "Value": str(n)}]}])
        ids.append(r["Instances"][0]["InstanceId"])

    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=FAST)

    pages = list(ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:run", "Values": [prefix]}], PaginationConfig={"PageSize": 5}))
    check(len(pages) >= 2, "a paginator with PageSize 5 over 8 instances makes more than one page", len(pages))
    for p in pages[:-1]:
        check(p.get("NextToken"), "every page but the last has a NextToken", p.get("NextToken"))
        check(len(instances_of(p["Reservations"])) <= 5 or len(p["Reservations"]) <= 5, "a page holds at most 5 items")
    check(not pages[-1].get("NextToken"), "the last page has no NextToken", pages[-1].get("NextToken"))
    seen = [i["InstanceId"] for p in pages for i in instances_of(p["Reservations"])]
    check(sorted(seen) == sorted(ids), "the pages hold every instance once", sorted(seen), sorted(ids))

    described = ec2.describe_instances(InstanceIds=ids)
    now = datetime.datetime.now(datetime.timezone.utc)
    for r in described["Reservations"]:
        check(re.fullmatch(r"r-[0-9a-f]{17}", r["ReservationId"]) and r["OwnerId"] == ACCOUNT_ID, "reservation", r["ReservationId"], r["OwnerId"])
        for i in r["Instances"]:
            where = i["InstanceId"]
            check(i["State"] == {"Code": 16, "Name": "running"}, where + " State", i["State"])
            check(i["ImageId"] == image["ImageId"] and i["InstanceType"] == "t3.micro", where + " image and type")
            check(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", i.get("PrivateIpAddress", "")), where + " PrivateIpAddress", i.get("PrivateIpAddress"))
            check(i["PrivateDnsName"] == "ip-" + i["PrivateIpAddress"].replace(".", "-") + f".{ec2.meta.region_name}.compute.internal",
                  where + " PrivateDnsName", i["PrivateDnsName"])
            check(i["Placement"]["AvailabilityZone"] in zones, where + " AvailabilityZone", i["Placement"])
            check(isinstance(i["LaunchTime"], datetime.datetime) and abs((now - i["LaunchTime"]).total_seconds()) < 600,
                  where + " LaunchTime", i["LaunchTime"])
            check({"Key": "run", "Value": prefix} in i["Tags"], where + " Tags", i["Tags"])
            check(i["Architecture"] == image["Architecture"] and i["RootDeviceName"] == image["RootDeviceName"],
                  where + " Architecture and RootDeviceName follow the image", i["Architecture"], i["RootDeviceName"])
            check(i["RootDeviceType"] == "ebs" and i["VirtualizationType"] == "hvm", where + " root device and virtualization")
            # The stack's account has a default VPC: the instance is in its default group.
            check([g["GroupName"] for g in i["SecurityGroups"]] == ["default"] and i["ProductCodes"] == [],
                  where + " SecurityGroups and ProductCodes", i["SecurityGroups"])
            check(i["Monitoring"] == {"State": "disabled"}, where + " Monitoring", i["Monitoring"])
            if i["InstanceId"] in ids[:2]:
                check(i["KeyName"] == key and i["ClientToken"] == token, where + " KeyName and ClientToken", i.get("KeyName"), i.get("ClientToken"))
                check(i["AmiLaunchIndex"] in (0, 1), where + " AmiLaunchIndex", i["AmiLaunchIndex"])

    code = error_code(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"])
    check(code == ("InvalidInstanceID.NotFound", 400), "describe_instances of a missing instance", code)

    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=FAST)
    gone = ec2.describe_instances(Filters=[{"Name": "tag:run", "Values": [prefix]}, {"Name": "instance-state-name", "Values": ["terminated"]}])
    check(sorted(i["InstanceId"] for i in instances_of(gone["Reservations"])) == sorted(ids),
          "terminated instances stay listed as terminated", gone)
    ec2.delete_key_pair(KeyName=key)

    print(f"boto3 checks passed (boto3 {boto3.__version__}, botocore {botocore.__version__}, "
          f"Python {sys.version.split()[0]}, retries {args.retry_mode}, {len(pages)} pages)")


if __name__ == "__main__":
    main()
