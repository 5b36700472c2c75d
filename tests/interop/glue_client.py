"""An independent AWS Glue client (boto3) for the Glue tests.

    glue_client.py dump ENDPOINT DATABASE
        print one JSON object: {"tables": {NAME: {"columns", "partition_keys",
        "location", "parameters", "serde", "serde_parameters", "input_format",
        "partitions": [{"values", "location"}]}}}; {"tables": null} when the
        database does not exist
    glue_client.py user ENDPOINT DENIED_ACTION
        create an IAM user allowed everything but DENIED_ACTION (e.g.
        glue:CreateTable), print {"key", "secret"}, then make the server
        check credentials from now on
"""
import json
import sys
import urllib.request

import boto3


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        region_name="us-east-1",
    )


def dump(endpoint, database):
    glue = client("glue", endpoint)
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        print(json.dumps({"tables": None}))
        return
    tables = {}
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page["TableList"]:
            sd = table["StorageDescriptor"]
            partitions = []
            for ppage in glue.get_paginator("get_partitions").paginate(
                DatabaseName=database, TableName=table["Name"]
            ):
                for p in ppage["Partitions"]:
                    partitions.append({
                        "values": p["Values"],
                        "location": p["StorageDescriptor"]["Location"],
                    })
            tables[table["Name"]] = {
                "columns": [[c["Name"], c["Type"]] for c in sd.get("Columns", [])],
                "partition_keys": [[c["Name"], c["Type"]] for c in table.get("PartitionKeys", [])],
                "location": sd.get("Location"),
                "parameters": table.get("Parameters", {}),
                "serde": sd.get("SerdeInfo", {}).get("SerializationLibrary"),
                "serde_parameters": sd.get("SerdeInfo", {}).get("Parameters", {}),
                "input_format": sd.get("InputFormat"),
                "partitions": sorted(partitions, key=lambda p: p["values"]),
            }
    print(json.dumps({"tables": tables}))


def user(endpoint, denied):
    iam = client("iam", endpoint)
    iam.create_user(UserName="lake-writer")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": denied, "Resource": "*"},
        ],
    }
    iam.put_user_policy(
        UserName="lake-writer", PolicyName="lake", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="lake-writer")["AccessKey"]
    request = urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request).read()
    print(json.dumps({"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"dump": dump, "user": user}[command](*rest)
