"""An independent S3 client (boto3) for the S3 tests.

    s3_client.py dump ENDPOINT BUCKET PREFIX
        print one JSON object per stored object under PREFIX:
        {"key", "etag", "size", "sse", "kms_key", "text"} with .gz/.zst
        bodies decompressed
    s3_client.py keys ENDPOINT BUCKET PREFIX
        print the key of every stored object under PREFIX, one per line
"""
import gzip
import json
import sys

import boto3
import zstandard


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        region_name="us-east-1",
    )


def dump(endpoint, bucket, prefix):
    s3 = client(endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            got = s3.get_object(Bucket=bucket, Key=key)
            body = got["Body"].read()
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            elif key.endswith(".zst"):
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            print(json.dumps({
                "key": key,
                "etag": item["ETag"].strip('"'),
                "size": item["Size"],
                "sse": got.get("ServerSideEncryption"),
                "kms_key": got.get("SSEKMSKeyId"),
                "text": body.decode("utf-8"),
            }))


def keys(endpoint, bucket, prefix):
    s3 = client(endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            print(item["Key"])


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"dump": dump, "keys": keys}[command](*rest)
