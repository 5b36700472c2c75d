"""An independent Kafka client (kafka-python) for the interoperability test.

    kafka_client.py consume BROKERS TOPIC N   print N message values, one per line
    kafka_client.py produce BROKERS TOPIC     send each stdin line as a message value
    kafka_client.py produce BROKERS TOPIC K   ... the K-th (from 0) with a header
                                              whose key is not UTF-8 (bytes ff fe)
"""
import sys

from kafka import KafkaConsumer, KafkaProducer


def consume(brokers, topic, n):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=brokers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=60_000,
    )
    seen = 0
    for message in consumer:
        sys.stdout.write(message.value.decode("utf-8") + "\n")
        seen += 1
        if seen == n:
            break
    consumer.close()
    if seen < n:
        sys.exit(f"only {seen} of {n} messages within a minute")


class RawKey(str):
    """A header key kafka-python sends as these bytes, UTF-8 or not (as any
    non-Java producer may)."""

    def __new__(cls, raw):
        key = super().__new__(cls, "raw")
        key.raw = raw
        return key

    def encode(self, *args, **kwargs):
        return self.raw


def produce(brokers, topic, bad_header_at=None):
    producer = KafkaProducer(bootstrap_servers=brokers, acks="all")
    for i, line in enumerate(sys.stdin):
        headers = [(RawKey(b"\xff\xfe"), b"v")] if i == bad_header_at else None
        producer.send(topic, line.rstrip("\n").encode("utf-8"), headers=headers)
    producer.flush()
    producer.close()


if __name__ == "__main__":
    command, brokers, topic = sys.argv[1:4]
    if command == "consume":
        consume(brokers, topic, int(sys.argv[4]))
    else:
        produce(brokers, topic, int(sys.argv[4]) if len(sys.argv) > 4 else None)
